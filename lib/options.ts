import type { ContainerDetails } from './adapter.js';

/**
 * Backoff between reconnection attempts: exponential with full jitter and a cap.
 * `false` disables retries: the first failure is final (`failed`).
 *
 * @example
 * const backoff: BackoffOptions = { initialDelay: 500, maxDelay: 30_000, factor: 2, jitter: 0.2 };
 */
export interface BackoffOptions {
  /** First delay in ms (default 500). */
  readonly initialDelay?: number;
  /** Cap in ms (default 30 000). */
  readonly maxDelay?: number;
  /** Growth factor per attempt (default 2). */
  readonly factor?: number;
  /** Random share of each delay, 0..1 (default 0.2). */
  readonly jitter?: number;
  /** Give up after this many consecutive failed attempts (default: never). */
  readonly maxRetries?: number;
}

/**
 * What a container looks like to the `project` option.
 *
 * @example
 * const byNamespace = (c: ProjectInput) => c.labels['io.kubernetes.pod.namespace'] ?? '';
 */
export interface ProjectInput {
  readonly id: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Options common to every watcher.
 *
 * @example
 * mobyWatcher(undefined, { resyncInterval: 30_000, rucksack: (d) => ({ raw: d.raw }) });
 */
export interface WatchOptions {
  /** Period of the safety-net relist in ms (default 60 000; 0 disables it). */
  readonly resyncInterval?: number;
  /** Every Nth resync re-inspects every container, not only newcomers (default 10; 0 never). */
  readonly fullResyncEvery?: number;
  /** Reconnection backoff, or `false` for no retries. */
  readonly backoff?: BackoffOptions | false;
  /** Maps a container to its project (default: the `com.docker.compose.project` label, else ""). */
  readonly project?: (container: ProjectInput) => string;
  /** User data attached to every container, computed from the engine's details. */
  readonly rucksack?: (details: ContainerDetails) => unknown;
  /** Overrides the engine type (e.g. `'podman.io'`). */
  readonly type?: string;
  /** Engine PID, when known to the caller (0 = unknown). */
  readonly pid?: number;
  /** How many inspections may run at once (default 4). */
  readonly inspectConcurrency?: number;
  /**
   * Longest wait in ms for one engine call, and for a new event subscription to prove live
   * (default 30 000). A list, identity or subscription past it counts as a lost connection; a
   * lookup (inspect, status) past it leaves only that container out, with a diagnostic, until its
   * next event or the next resync. An open event stream has no deadline.
   */
  readonly callTimeout?: number;
  /**
   * Largest engine answer read, in bytes (default 64 MiB: a list of 10,000 containers uses a
   * few MiB). A longer answer fails its call with a `ProtocolError` naming the endpoint, the call
   * and the limit; memory while reading stays within it. Event streams bound each event instead.
   */
  readonly maxResponseBytes?: number;
  /** Scheduler for timers and for starting lookups (tests pass a TestScheduler; default: real timers, lookups on the next turn of the event loop). */
  readonly scheduler?: import('rxjs').SchedulerLike;
}

/**
 * Default of {@link WatchOptions.maxResponseBytes}: 64 MiB.
 *
 * @example
 * const limit = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/**
 * Default of {@link WatchOptions.callTimeout}: 30 s. The watch pipeline is the one layer that
 * bounds engine calls; adapters set no deadline of their own.
 *
 * @example
 * const ms = options.callTimeout ?? DEFAULT_CALL_TIMEOUT;
 */
export const DEFAULT_CALL_TIMEOUT = 30_000;
