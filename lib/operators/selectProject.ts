import { type OperatorFunction, distinctUntilChanged, map, pipe, shareReplay } from 'rxjs';
import type { ComposerProject, Portfolio } from '../model.js';

/**
 * Follows one project through a stream of portfolios: emits the project (or `undefined` while it
 * has no alive container) only when it changed, by identity. Snapshots share structure, so a
 * change elsewhere in the portfolio does not wake the subscriber. Shared and replayed while
 * subscribed.
 *
 * @example
 * w.portfolio$.pipe(selectProject('shop')).subscribe((p) => console.log(p?.containerNames() ?? []));
 */
export function selectProject(name: string): OperatorFunction<Portfolio, ComposerProject | undefined> {
  return pipe(
    map((p) => p.project(name)),
    distinctUntilChanged(),
    shareReplay({ bufferSize: 1, refCount: true }),
  );
}
