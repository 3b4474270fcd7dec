// Run by scripts/package-test.ts in a scratch project where the packed whalewatcher is
// installed: loads every entry point with require() and prints what it found, as JSON.
'use strict';
const ENTRIES = ['whalewatcher', 'whalewatcher/moby', 'whalewatcher/containerd', 'whalewatcher/cri', 'whalewatcher/testing'];

async function main() {
  const shapes = {};
  for (const entry of ENTRIES) {
    const m = require(entry);
    shapes[entry] = Object.keys(m).sort().map((k) => `${k}: ${typeof m[k]}`);
  }
  const { watch, selectProject, WhalewatcherError, EngineUnreachableError } = require('whalewatcher');
  const { mobyWatcher } = require('whalewatcher/moby');
  const { FakeEngine } = require('whalewatcher/testing');
  const { firstValueFrom } = require('rxjs');

  const engine = new FakeEngine();
  engine.start({ name: 'web', labels: { 'com.docker.compose.project': 'shop' } });
  const w = watch(engine);
  await w.ready();
  const shop = await firstValueFrom(w.portfolio$.pipe(selectProject('shop')));
  await w.close();

  const nowhere = mobyWatcher('unix:///nonexistent/whalewatcher-package-test.sock', { backoff: false });
  const error = await nowhere.ready().then(() => undefined, (e) => e);
  await nowhere.close();
  return {
    shapes,
    shop: shop ? shop.containerNames() : null,
    error: error && error.constructor.name,
    unreachable: error instanceof EngineUnreachableError && error instanceof WhalewatcherError,
  };
}

main().then(
  (result) => console.log(JSON.stringify(result)),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
