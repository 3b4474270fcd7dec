import { type OperatorFunction, distinctUntilChanged, map, pipe, shareReplay } from 'rxjs';
import type { Container, Portfolio } from '../model.js';

/**
 * Follows one container, by name or ID, through a stream of portfolios: emits it (or
 * `undefined` while it is not alive) only when it changed, by identity. Shared and replayed
 * while subscribed.
 *
 * @example
 * w.portfolio$.pipe(selectContainer('web-1')).subscribe((c) => console.log(c?.paused ? 'paused' : c ? 'up' : 'gone'));
 */
export function selectContainer(nameOrId: string): OperatorFunction<Portfolio, Container | undefined> {
  return pipe(
    map((p) => p.container(nameOrId)),
    distinctUntilChanged(),
    shareReplay({ bufferSize: 1, refCount: true }),
  );
}
