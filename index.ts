/**
 * whalewatcher: an always-current, immutable RxJS picture of the alive containers of Docker,
 * Podman, containerd and CRI engines.
 *
 * @example
 * import { mobyWatcher } from 'whalewatcher';
 * const w = mobyWatcher();
 * const portfolio = await w.ready();
 * for (const name of portfolio.names()) console.log(name, portfolio.project(name)!.containerNames());
 * await w.close();
 *
 * @packageDocumentation
 */
export * from './lib/index.js';
export { mobyWatcher, type MobyWatchOptions } from './engines/moby/index.js';
export { containerdWatcher, type ContainerdOptions } from './engines/containerd/index.js';
export { criWatcher, type CriWatchOptions } from './engines/cri/index.js';
