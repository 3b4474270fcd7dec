// Run by scripts/package-test.ts in a scratch project where the packed whalewatcher is
// installed: loads every entry point with import, compares it with what require() gives, and
// prints what it found, as JSON (the same fields as check.cjs, plus `sameInstances`).
import { createRequire } from 'node:module';
import { firstValueFrom } from 'rxjs';
import { WhalewatcherError, EngineUnreachableError, selectProject, watch } from 'whalewatcher';
import { FakeEngine } from 'whalewatcher/testing';

const require = createRequire(import.meta.url);
const ENTRIES = ['whalewatcher', 'whalewatcher/moby', 'whalewatcher/containerd', 'whalewatcher/cri', 'whalewatcher/testing'];

const shapes = {};
const differ = [];
for (const entry of ENTRIES) {
  const m = await import(entry);
  shapes[entry] = Object.keys(m).sort().map((k) => `${k}: ${typeof m[k]}`);
  // No dual-package hazard: require() hands out the very same module instance.
  const r = require(entry);
  for (const k of new Set([...Object.keys(m), ...Object.keys(r)])) if (m[k] !== r[k]) differ.push(`${entry} ${k}`);
}

const engine = new FakeEngine();
engine.start({ name: 'web', labels: { 'com.docker.compose.project': 'shop' } });
const w = watch(engine);
await w.ready();
const shop = await firstValueFrom(w.portfolio$.pipe(selectProject('shop')));
await w.close();

// A watcher made through require(), its error checked against the imported classes.
const nowhere = require('whalewatcher/moby').mobyWatcher('unix:///nonexistent/whalewatcher-package-test.sock', { backoff: false });
const error = await nowhere.ready().then(() => undefined, (e) => e);
await nowhere.close();

console.log(
  JSON.stringify({
    shapes,
    shop: shop ? shop.containerNames() : null,
    error: error && error.constructor.name,
    unreachable: error instanceof EngineUnreachableError && error instanceof WhalewatcherError,
    sameInstances: differ.length === 0 ? true : differ,
  }),
);
