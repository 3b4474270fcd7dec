import { type Observable, mergeMap, take, throwError } from 'rxjs';
import { WatcherAbortedError } from './errors.js';
import type { WatcherState } from './watcher.js';

/**
 * What `ready()` of a watcher or fleet does: unless `signal` has aborted already, calls `start`,
 * then waits for the first `synced` state on `status$` for which `snapshot()` has a portfolio.
 * Rejects with the error of a `failed` state, and with {@link WatcherAbortedError} when closed
 * (a `closed` state, or `status$` completed) or when `signal` aborts; keeps nothing once settled.
 *
 * @example
 * const portfolio = await whenSynced(status$, () => shown, { api, what: 'watcher', start, signal });
 */
export function whenSynced<P>(
  status$: Observable<WatcherState>,
  snapshot: () => P | undefined,
  options: { readonly api: string; readonly what: string; readonly start: () => void; readonly signal?: AbortSignal | undefined },
): Promise<P> {
  const { api, what, signal } = options;
  const aborted = () => new WatcherAbortedError(api, 'ready() was aborted', { cause: signal?.reason });
  const closed = () => new WatcherAbortedError(api, `the ${what} was closed`);
  if (signal?.aborted) return Promise.reject(aborted());
  options.start();
  return new Promise<P>((resolve, reject) => {
    const onAbort = () => {
      sub.unsubscribe();
      reject(aborted());
    };
    const sub = status$
      .pipe(
        mergeMap((s) => {
          if (s.state === 'failed') return throwError(() => s.error);
          if (s.state === 'closed') return throwError(closed);
          const p = s.state === 'synced' ? snapshot() : undefined;
          return p === undefined ? [] : [p];
        }),
        take(1),
      )
      .subscribe({ next: resolve, error: reject, complete: () => reject(closed()) });
    if (sub.closed) return;
    signal?.addEventListener('abort', onAbort, { once: true });
    sub.add(() => signal?.removeEventListener('abort', onAbort));
  });
}
