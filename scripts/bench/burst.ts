/**
 * Section 7: after a burst. A fake engine (Docker API over a unix socket, and a CRI runtime over
 * gRPC) answers every lookup in 5 ms; its event stream delivers a burst of start/die pairs of
 * short-lived containers, then the start of one that stays. Measured: from that last start
 * event's sending to the watcher's portfolio holding the container; the baseline is the same
 * start on the same fake without a burst before it. Before lookups of dead containers were
 * dropped, 20,000 pairs delayed that container by 30 s (Docker) and 52 s (CRI, 50,000 events).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type * as http from 'node:http';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { filter, firstValueFrom, map } from 'rxjs';
import { criWatcher } from '../../engines/cri/index.js';
import { mobyWatcher } from '../../engines/moby/index.js';
import type { Watcher } from '../../lib/watcher.js';
import { inspection, startFakeDocker } from '../../spec/unit/moby-fakeserver.js';
import { type Row, atMost, median, now, say } from './report.js';

const LOOKUP_MS = 5;
const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface BurstOptions {
  /** Start/die pairs before the container that stays. */
  readonly pairs: number;
  readonly repetitions: number;
}

/** Milliseconds from `send()` to the watcher's portfolio holding `id`. */
async function until(w: Watcher, id: string, send: () => void): Promise<number> {
  const seen = firstValueFrom(w.portfolio$.pipe(filter((p) => !!p.container(id))));
  const t = now();
  send();
  await seen;
  return now() - t;
}

/** One Docker run: ms until the late container is seen, after `pairs` start/die pairs. */
async function dockerRun(pairs: number): Promise<number> {
  const fake = await startFakeDocker();
  fake.intercept = (req, res) => {
    const m = /\/containers\/([^/]+)\/json$/.exec(new URL(req.url ?? '/', 'http://docker').pathname);
    if (!m) return false;
    const c = fake.containers.get(decodeURIComponent(m[1]!));
    setTimeout(() => {
      res.writeHead(c ? 200 : 404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(c ?? { message: 'No such container' }));
    }, LOOKUP_MS);
    return true;
  };
  const w = mobyWatcher(fake.api, { resyncInterval: 0 });
  try {
    await w.ready();
    const stream: http.ServerResponse = await fake.nextEventStream(1);
    const event = (Action: string, id: string, time: number) => JSON.stringify({ Type: 'container', Action, id, Actor: { ID: id, Attributes: {} }, time, timeNano: time * 1e9 });
    const time = Math.floor(Date.now() / 1000);
    let chunk: string[] = [];
    for (let i = 0; i < pairs; i++) {
      chunk.push(event('start', `short${i}`, time), event('die', `short${i}`, time));
      if (chunk.length >= 512) {
        stream.write(chunk.join('\n') + '\n');
        chunk = [];
      }
    }
    if (chunk.length) stream.write(chunk.join('\n') + '\n');
    fake.containers.set('late', inspection('late', 'late', 4242));
    return await until(w, 'late', () => stream.write(event('start', 'late', time) + '\n'));
  } finally {
    await w.close();
    await fake.close();
  }
}

/**
 * One CRI run: the same, over the CRI event stream (STARTED with the statuses a runtime sends),
 * from a fake runtime in a child process (see burst-cri-engine.ts); measured from the moment it
 * queued the late STARTED, on the shared wall clock.
 */
async function criRun(pairs: number): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(HERE, 'burst-cri-engine.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (prefix: string) => {
    const { value, done } = await lines.next();
    if (done || !String(value).startsWith(prefix)) throw new Error(`the fake CRI runtime said ${String(value)}`);
    return String(value).slice(prefix.length);
  };
  const w = criWatcher(await next('socket '), { resyncInterval: 0 });
  try {
    await w.ready();
    const seen = firstValueFrom(w.portfolio$.pipe(filter((p) => !!p.container('late1')), map(() => performance.timeOrigin + performance.now())));
    child.stdin!.write(`burst ${pairs}\n`);
    const sent = Number(await next('sent '));
    return (await seen) - sent;
  } finally {
    await w.close();
    child.stdin!.end('end\n');
    await once(child, 'exit');
  }
}

/** Section 7 rows: Docker and CRI, the late container's delay after a burst, next to no burst. */
export async function benchBurst(o: BurstOptions): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [engine, run] of [
    ['Docker', dockerRun],
    ['CRI', criRun],
  ] as const) {
    const after: number[] = [];
    const alone: number[] = [];
    // One untimed burst first, as the other sections warm up: the first one also pays the JIT.
    await run(o.pairs);
    for (let i = 0; i < o.repetitions; i++) {
      alone.push(await run(0));
      after.push(await run(o.pairs));
      say(`burst (${engine}): ${after.at(-1)!.toFixed(0)} ms after ${o.pairs} pairs, ${alone.at(-1)!.toFixed(1)} ms without`);
    }
    const value = median(after);
    const baseline = median(alone);
    rows.push({
      key: `burst.${engine.toLowerCase()}`,
      section: 7,
      figure: `${engine}: container started after ${o.pairs.toLocaleString('en')} start/die pairs visible (fake engine, ${LOOKUP_MS} ms lookups)`,
      value,
      unit: 'ms',
      baseline: { label: 'the same start without a burst', value: baseline, unit: 'ms' },
      ratio: value / baseline,
      target: { ...atMost(value, 1000), text: '≤ 1 s' },
      detail: { repetitions: o.repetitions, afterBurstMs: after, aloneMs: alone },
    });
  }
  return rows;
}
