/**
 * A child program for the hostile Docker transport suite: runs the Docker adapter or watcher
 * against a fake engine that sends huge or endless answers, and tells how it went and how much
 * memory it took. The process must end by itself (nothing left open) with exit code 0; an error
 * escaping to the process ends it otherwise. Prints one JSON line.
 *
 * Usage:
 *   node --import tsx spec/support/moby-body-child.ts watch API MS [MAX_RESPONSE_BYTES]
 *     a watcher with fast retries for MS milliseconds; tells the errors of its reconnecting states
 *   node --import tsx spec/support/moby-body-child.ts list API MAX_RESPONSE_BYTES|default [MORE_LIMITS…]
 *     one `list()` per limit; tells each outcome
 *
 * Output: `{ "baseRss": bytes at start, "peakRss": the process's peak RSS (getrusage maxrss),
 * "outcomes": [{ "limit", "error", "field", "message", "ms" }] }`.
 */
import { createMobyAdapter, mobyWatcher } from '../../engines/moby/index.js';
import { ProtocolError, WhalewatcherError } from '../../lib/errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from '../../lib/options.js';
import { listAlive } from './answers.js';

interface Outcome {
  readonly limit: number;
  readonly error: string;
  readonly field?: string;
  readonly message: string;
  readonly ms: number;
}

const baseRss = process.memoryUsage.rss();
const [mode, api, ...rest] = process.argv.slice(2);
const limitOf = (arg: string | undefined) => (arg === undefined || arg === 'default' ? DEFAULT_MAX_RESPONSE_BYTES : Number(arg));

function describe(err: unknown, limit: number, t0: number): Outcome {
  const e = err as Error;
  return {
    limit,
    error: err instanceof WhalewatcherError ? err.constructor.name : `not typed: ${e?.constructor?.name ?? typeof err}`,
    ...(err instanceof ProtocolError && { field: err.field }),
    message: String(e?.message ?? err).slice(0, 300),
    ms: Date.now() - t0,
  };
}

const outcomes: Outcome[] = [];
if (mode === 'watch') {
  const ms = Number(rest[0]);
  const limit = limitOf(rest[1]);
  const w = mobyWatcher(api!, {
    maxResponseBytes: limit,
    callTimeout: 10_000,
    resyncInterval: 0,
    backoff: { initialDelay: 10, maxDelay: 50, jitter: 0 },
  });
  const t0 = Date.now();
  w.state$.subscribe((s) => {
    if (s.state === 'reconnecting' || s.state === 'failed') outcomes.push(describe(s.error, limit, t0));
  });
  await new Promise((r) => setTimeout(r, ms));
  await w.close();
} else if (mode === 'list') {
  for (const arg of rest) {
    const limit = limitOf(arg);
    const adapter = createMobyAdapter(api!, { maxResponseBytes: limit });
    const t0 = Date.now();
    const outcome = await listAlive(adapter).then(
      (list) => ({ limit, error: 'none', message: `listed ${list.length}`, ms: Date.now() - t0 }),
      (err: unknown) => describe(err, limit, t0),
    );
    outcomes.push(outcome);
    await adapter.close();
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
const peakRss = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ baseRss, peakRss, outcomes }));
