/**
 * A TypeScript consumer of the packed package. scripts/package-test.ts copies it into a scratch
 * project as consumer.cts (CommonJS) and consumer.mts (ES module), type-checked with
 * `"module": "node16"`, and as consumer.ts, type-checked with `"moduleResolution": "bundler"`.
 * (Not part of the repository's own type-check: 'whalewatcher' resolves only in that project.)
 */
import { firstValueFrom } from 'rxjs';
import {
  EngineUnreachableError,
  WhalewatcherError,
  fleet,
  selectContainer,
  selectProject,
  watch,
  type Container,
  type LifecycleEvent,
  type Portfolio,
  type WatcherState,
} from 'whalewatcher';
import { containerdWatcher } from 'whalewatcher/containerd';
import { criWatcher } from 'whalewatcher/cri';
import { mobyWatcher } from 'whalewatcher/moby';
import { FakeEngine } from 'whalewatcher/testing';

export async function shop(): Promise<readonly string[]> {
  const engine = new FakeEngine();
  engine.start({ name: 'web', labels: { 'com.docker.compose.project': 'shop' } });
  const w = watch(engine);
  const p: Portfolio = await w.ready();
  const web: Container | undefined = p.container('web');
  const project = await firstValueFrom(w.portfolio$.pipe(selectProject('shop')));
  const again = await firstValueFrom(w.portfolio$.pipe(selectContainer('web')));
  await w.close();
  return project?.containerNames() ?? [web?.name ?? again?.name ?? ''];
}

export function everything(): () => Promise<void> {
  const all = fleet(
    mobyWatcher('unix:///var/run/docker.sock', { resyncInterval: 0 }),
    containerdWatcher('/run/containerd/containerd.sock'),
    criWatcher('/run/containerd/containerd.sock'),
  );
  const events = all.events$.subscribe((e: LifecycleEvent) => console.log(e.type, e.container.pid, e.at.toISOString()));
  const states = all.state$.subscribe((s: WatcherState) => console.log(s));
  return async () => {
    events.unsubscribe();
    states.unsubscribe();
    await all.close();
  };
}

export function explain(e: unknown): string {
  if (e instanceof EngineUnreachableError) return `${e.endpoint}: ${e.reason}`;
  if (e instanceof WhalewatcherError) return e.endpoint;
  return String(e);
}

// The types are the real ones, not `any`:
// @ts-expect-error a watcher factory is no number
export const notANumber: number = mobyWatcher;
// @ts-expect-error a container's PID is a number
export const notAString = (c: Container): string => c.pid;
