import type { Observable } from 'rxjs';

/**
 * What an engine tells about one alive container after a full inspection: everything the core
 * needs to build a {@link Container}, plus the engine's own answer for the `rucksack` option.
 *
 * @example
 * const details: ContainerDetails = {
 *   id: '3f4e…', name: 'web-1', labels: { 'com.docker.compose.project': 'shop' },
 *   pid: 4242, paused: false, raw: inspection,
 * };
 */
export interface ContainerDetails {
  /** Engine-wide unique ID, in the adapter's naming scheme (e.g. `ns/id` for containerd). */
  readonly id: string;
  /** Display name, in the adapter's naming scheme (Docker: without the leading `/`). */
  readonly name: string;
  /** Labels, in the form consumers see them (adapters add their own marker labels here). */
  readonly labels: Readonly<Record<string, string>>;
  /** Process ID of the container's initial process; always > 0 for an alive container. */
  readonly pid: number;
  /** Whether the container is paused (frozen) rather than running. */
  readonly paused: boolean;
  /**
   * When this lifetime started, in the engine's clock, if the engine tells. Lets the core tell a
   * late event of an earlier lifetime (same ID) from one of the current lifetime.
   */
  readonly startedAt?: Date;
  /** The engine's own answer, handed to the `rucksack` option and nothing else. */
  readonly raw: unknown;
}

/**
 * One entry of a cheap engine list call. When the list already gives everything (for example
 * containerd's task and container lists), the adapter puts it in `details` and the core skips
 * the inspection.
 *
 * @example
 * const summary: ContainerSummary = { id: '3f4e…', paused: false };
 */
export interface ContainerSummary {
  readonly id: string;
  readonly paused: boolean;
  /** Complete details, when the list call already carries them. */
  readonly details?: ContainerDetails;
}

/**
 * A container an adapter left out because the engine described it in a way the adapter cannot
 * read: an unknown status value, an alive state without a PID or with one out of Linux's range,
 * a malformed inspection. It counts as not alive; the core tells it on `diagnostics$`, with
 * `skipped` as the diagnostic's code.
 *
 * @example
 * const s: SkippedContainer = { skipped: 'unknown-status', id: 'default/web', message: 'task status 42 is unknown' };
 */
export interface SkippedContainer {
  /** Machine-readable reason, e.g. `unknown-status`, `no-pid`, `unreadable-inspection`. */
  readonly skipped: string;
  readonly id: string;
  /** What the engine said that could not be read. */
  readonly message: string;
}

/**
 * The answer of a list call: the alive containers, and those left out as unreadable.
 *
 * @example
 * const answer: ContainerList = { containers: [{ id: '3f4e…', paused: false }], skipped: [] };
 */
export interface ContainerList {
  readonly containers: readonly ContainerSummary[];
  readonly skipped: readonly SkippedContainer[];
}

/**
 * What an inspection answers: the container's details, a {@link SkippedContainer} when the
 * engine described it unreadably, or `null` when it is gone or not alive.
 *
 * @example
 * const answer: Inspection = null; // gone
 */
export type Inspection = ContainerDetails | SkippedContainer | null;

/**
 * Raw engine events as adapters report them, already normalized to the core's vocabulary.
 * `at` is the engine's own event time where it gives one.
 *
 * - `subscribed` (optional): from this moment on, everything that happens will be reported once
 *   the subscription is live (the engine replays from a point in time, as Docker's `since=`).
 *   The core may list from here on, while the subscription connects.
 * - `live`: the event subscription is live; anything that happens from now on is reported.
 *   Adapters emit it once per subscription, before any change event; the core lists only after
 *   it (or after `subscribed`), and counts the session as connected only once it came.
 * - `started`: a container (re)started; the core inspects it, unless `details` came along.
 * - `died`: the container's initial process ended (not an exec'd process); `pid` if the engine tells.
 * - `paused` / `unpaused`: freezer state changes.
 * - `updated`: the name and/or labels changed (rename, label update); no lifecycle event.
 * - `resync`: something happened that only a fresh list can reconcile (e.g. a new namespace).
 * - `diagnostic`: the adapter skipped or ignored an event (unknown event type, exec exit…);
 *   the core forwards it to `diagnostics$` and changes nothing. Containers that `list()` or
 *   `inspect()` left out come back with their answers instead ({@link SkippedContainer}).
 *
 * @example
 * const e: EngineEvent = { type: 'died', id: '3f4e…', at: new Date() };
 */
export type EngineEvent =
  | { readonly type: 'subscribed' }
  | { readonly type: 'live' }
  | { readonly type: 'started'; readonly id: string; readonly at?: Date; readonly details?: ContainerDetails }
  | { readonly type: 'died'; readonly id: string; readonly at?: Date; readonly pid?: number }
  | { readonly type: 'paused'; readonly id: string; readonly at?: Date }
  | { readonly type: 'unpaused'; readonly id: string; readonly at?: Date }
  | {
      readonly type: 'updated';
      readonly id: string;
      readonly at?: Date;
      readonly name?: string;
      readonly labels?: Readonly<Record<string, string>>;
    }
  | { readonly type: 'resync' }
  | { readonly type: 'diagnostic'; readonly code: string; readonly message: string; readonly id?: string };

/**
 * Identity of the engine behind an adapter.
 *
 * @example
 * const info: EngineInfo = { id: 'a1b2…', version: 'Docker Engine 20.10.24', pid: 0 };
 */
export interface EngineInfo {
  /** Stable engine identity (same engine, same ID, across calls and reconnects). */
  readonly id: string;
  /** Human-readable `<name> <version>`-style text. */
  readonly version: string;
  /** Engine type, when the adapter detects it (e.g. Podman behind the Docker API). */
  readonly type?: string;
  /** Engine process ID if the engine tells it (containerd's introspection), else undefined. */
  readonly pid?: number;
}

/**
 * The one small interface an engine implements. Every method returns a cold Observable, so
 * virtual-time tests reach everything. Adapters know nothing of portfolios, retries, sharing or
 * which containers are known: the core decides all that.
 *
 * Errors: adapters fail with the exported error classes (`EngineUnreachableError`,
 * `WrongEngineError`, `ProtocolError`) where they can tell; anything else is treated as a lost
 * connection and retried. Adapters set no timeouts: the core bounds every call and the wait for
 * `live` by `callTimeout`, and unsubscribes (which must cancel the call) when one runs over.
 *
 * @example
 * const adapter: EngineAdapter = {
 *   type: 'docker.com', api: 'unix:///var/run/docker.sock',
 *   events: () => events$, list: () => list$, inspect: (id) => inspect$(id), info: () => info$,
 *   close: () => Promise.resolve(),
 * };
 */
export interface EngineAdapter {
  /** Engine type, e.g. `'docker.com'`; {@link EngineInfo.type} may refine it after `info()`. */
  readonly type: string;
  /** The endpoint as the user gave it. */
  readonly api: string;
  /** Raw events; emits `{ type: 'live' }` before any change, once the subscription is live. Errors when the stream breaks. */
  events(): Observable<EngineEvent>;
  /** Alive (running or paused) containers and the unreadable ones left out, in one emission, then completes. */
  list(): Observable<ContainerList>;
  /**
   * Full details of one container; emits `null` when it is gone or not alive, a
   * {@link SkippedContainer} when the engine described it unreadably, then completes.
   */
  inspect(id: string): Observable<Inspection>;
  /** Engine identity; emits once, then completes. */
  info(): Observable<EngineInfo>;
  /**
   * Releases every socket and agent the adapter holds; calls and streams still open end with an
   * error. Called once by the watcher's `close()`, after it unsubscribed.
   */
  close(): Promise<void>;
}
