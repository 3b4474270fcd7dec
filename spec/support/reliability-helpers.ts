/**
 * Shared helpers of the reliability suites (spec/reliability/…): bounded vs. soak sizes, a
 * process guard that fails a test when anything escapes to the process, handle and fd
 * accounting, recorders of a watcher's states and lifecycle events, legality checks of event
 * sequences, and the figures that `RELIABILITY.md` reports (rewritten by the soak run).
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Subscription } from 'rxjs';
import { WhalewatcherError } from '../../lib/errors.js';
import type { LifecycleEvent, Portfolio } from '../../lib/model.js';
import type { Watcher, WatcherState } from '../../lib/watcher.js';
import { REPO_ROOT } from './engines.js';
import { listenOnUnixSocket } from './unix-socket-server.js';

/** True when the long (soak) versions run: `WHALEWATCHER_SOAK=1` (`npm run test:soak`). */
export const SOAK = process.env['WHALEWATCHER_SOAK'] === '1';

/** `bounded` in `npm test`, `soak` under `WHALEWATCHER_SOAK=1`. */
export function size<T>(bounded: T, soak: T): T {
  return SOAK ? soak : bounded;
}

/**
 * Node's active resources (`process.getActiveResourcesInfo`, missing from the pinned @types/node),
 * sorted, without the kinds in `ignore` (e.g. `ProcessWrap` of a suite's own CLI calls).
 */
export function activeResources(ignore: readonly string[] = []): string[] {
  return (process as unknown as { getActiveResourcesInfo(): string[] })
    .getActiveResourcesInfo()
    .filter((r) => !ignore.includes(r))
    .sort();
}

/** Open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Open socket file descriptors of this process (ref'd or not, unlike `activeResources()`). */
export function openSockets(): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
    } catch {
      return false; // closed meanwhile
    }
  }).length;
}

/** What the open file descriptors point to (`socket:[inode]`, `pipe:[…]`, paths), for diagnostics. */
export function fdList(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd}=${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return `${fd}=?`;
    }
  });
}

/** Counts of each kind of active resource, ignoring timers (mocha arms its own). */
export function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of activeResources()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

/** One setImmediate tick (mocha arms a timer around each test; baselines are taken after it). */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A guard against errors that escape to the process: while installed, every
 * `uncaughtException` and `unhandledRejection` is recorded; {@link ProcessGuard.check} throws
 * the first one. Install in `beforeEach`, check and remove in `afterEach`.
 *
 * @example
 * const guard = new ProcessGuard();
 * beforeEach(() => guard.install());
 * afterEach(() => guard.uninstall());
 * it('…', async () => { …; guard.check(); });
 */
export class ProcessGuard {
  readonly escaped: unknown[] = [];
  readonly #onError = (err: unknown) => {
    this.escaped.push(err);
  };

  install(): void {
    this.escaped.length = 0;
    process.on('uncaughtException', this.#onError);
    process.on('unhandledRejection', this.#onError);
  }

  uninstall(): void {
    process.off('uncaughtException', this.#onError);
    process.off('unhandledRejection', this.#onError);
  }

  /** Throws when anything escaped since install(). */
  check(): void {
    if (this.escaped.length) {
      const first = this.escaped[0];
      throw new Error(`an error escaped to the process: ${first instanceof Error ? first.stack : String(first)}`);
    }
  }
}

/** What a watcher told, recorded from the first subscription on. */
export class Recorder {
  readonly states: WatcherState[] = [];
  readonly events: LifecycleEvent[] = [];
  readonly diagnostics: string[] = [];
  readonly #subs: Subscription[];

  constructor(readonly watcher: Watcher) {
    this.#subs = [
      watcher.state$.subscribe((s) => this.states.push(s)),
      watcher.events$.subscribe((e) => this.events.push(e)),
      watcher.diagnostics$.subscribe((d) => this.diagnostics.push(`${d.code}: ${d.message}`)),
    ];
  }

  /** State names from index `from` on. */
  stateNames(from = 0): string[] {
    return this.states.slice(from).map((s) => s.state);
  }

  /** The errors of `reconnecting` and `failed` states from index `from` on. */
  errors(from = 0): Error[] {
    return this.states.slice(from).flatMap((s) => (s.state === 'reconnecting' || s.state === 'failed' ? [s.error] : []));
  }

  /** The current state name. */
  get state(): string {
    return this.states.at(-1)?.state ?? 'none';
  }

  stop(): void {
    for (const s of this.#subs) s.unsubscribe();
  }
}

/** Checks that an error is one of the exported classes and names the endpoint. */
export function assertEngineError(err: unknown, endpoint: string, kinds: readonly (abstract new (...a: never[]) => Error)[]): asserts err is WhalewatcherError {
  if (!(err instanceof WhalewatcherError)) {
    throw new Error(`expected a WhalewatcherError, got ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`);
  }
  if (!kinds.some((k) => err instanceof k)) {
    throw new Error(`expected ${kinds.map((k) => k.name).join(' or ')}, got ${err.constructor.name}: ${err.message}`);
  }
  if (err.endpoint !== endpoint) throw new Error(`error names endpoint ${err.endpoint}, expected ${endpoint}`);
  if (!err.message.includes(endpoint)) throw new Error(`error message does not name ${endpoint}: ${err.message}`);
}

/** A portfolio in a comparable form: `id pid paused`, sorted. */
export function portfolioLines(p: Portfolio, keep: (id: string, name: string) => boolean = () => true): string[] {
  return p
    .containers()
    .filter((c) => keep(c.id, c.name))
    .map((c) => `${c.id} ${c.pid} ${c.paused ? 'paused' : 'running'}`)
    .sort();
}

/**
 * Checks that each container's lifecycle events form a legal sequence: per lifetime (ID + PID)
 * one `started` first, then pause/unpause toggles, then at most one `exited`; a later lifetime
 * (same ID, new PID) only after the previous one's `exited`. Returns the problems found.
 */
export function illegalSequences(events: readonly LifecycleEvent[], keep: (id: string) => boolean = () => true): string[] {
  const problems: string[] = [];
  const state = new Map<string, { pid: number; phase: 'running' | 'paused' | 'exited'; lifetimes: Set<number> }>();
  for (const e of events) {
    const { id, pid } = e.container;
    if (!keep(id)) continue;
    const s = state.get(id);
    const where = `${id.slice(0, 24)} (pid ${pid})`;
    switch (e.type) {
      case 'started':
        if (s && s.phase !== 'exited') problems.push(`${where}: started while ${s.phase} (pid ${s.pid})`);
        if (s?.lifetimes.has(pid)) problems.push(`${where}: a second started for the same lifetime`);
        state.set(id, { pid, phase: e.container.paused ? 'paused' : 'running', lifetimes: new Set([...(s?.lifetimes ?? []), pid]) });
        break;
      case 'paused':
        if (!s || s.phase !== 'running') problems.push(`${where}: paused while ${s?.phase ?? 'unknown'}`);
        else s.phase = 'paused';
        break;
      case 'unpaused':
        if (!s || s.phase !== 'paused') problems.push(`${where}: unpaused while ${s?.phase ?? 'unknown'}`);
        else s.phase = 'running';
        break;
      case 'exited':
        if (!s || s.phase === 'exited') problems.push(`${where}: exited while ${s?.phase ?? 'unknown'}`);
        else s.phase = 'exited';
        break;
    }
  }
  return problems;
}

/** A unix socket server that accepts connections and never answers. */
export async function silentServer(): Promise<{ api: string; connections: () => number; close(): Promise<void> }> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.resume();
  });
  const unix = await listenOnUnixSocket(server, 'rel-silent');
  return { api: `unix://${unix.path}`, connections: unix.connections, close: unix.close };
}

// ---------------------------------------------------------------------------------------------
// figures for RELIABILITY.md

const FIGURES = new Map<string, string>();
const FIGURES_FILE = path.join(REPO_ROOT, 'RELIABILITY.md');
const START = '<!-- figures:start -->';
const END = '<!-- figures:end -->';

/**
 * Records one figure (e.g. `crash docker` → `10 cycles survived, 10/10 consistent`). In the soak
 * run (`WHALEWATCHER_SOAK=1`), {@link writeFigures} merges them into the figures table of
 * RELIABILITY.md, so the document keeps telling what the last soak run proved.
 */
export function recordFigure(key: string, value: string): void {
  FIGURES.set(key, value);
  console.log(`      [figure] ${key}: ${value}`);
}

/** In the soak run: merges the recorded figures into RELIABILITY.md's figures table. */
export function writeFigures(): void {
  if (!SOAK || FIGURES.size === 0 || !existsSync(FIGURES_FILE)) return;
  const text = readFileSync(FIGURES_FILE, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) return;
  const rows = new Map<string, [string, string]>();
  for (const line of text.slice(a + START.length, b).split('\n')) {
    const m = /^\| (.+?) \| (.+?) \| (.+?) \|$/.exec(line.trim());
    if (m && m[1] !== 'what' && !m[1]!.startsWith('---')) rows.set(m[1]!, [m[2]!, m[3]!]);
  }
  const date = new Date().toISOString().slice(0, 10);
  for (const [k, v] of FIGURES) rows.set(k, [v.replaceAll('|', '/'), `soak ${date}`]);
  const table = ['| what | figure | from |', '|---|---|---|', ...[...rows].map(([k, [v, d]]) => `| ${k} | ${v} | ${d} |`)];
  writeFileSync(FIGURES_FILE, `${text.slice(0, a + START.length)}\n${table.join('\n')}\n${text.slice(b)}`);
}
