import { Observable, type ObservableInput, type OperatorFunction, from } from 'rxjs';

/**
 * Runs one inner observable at a time. Values that arrive while one runs are not queued one by
 * one but merged (with `merge`) into a single pending value, run once the current inner
 * completes. Unlike `exhaustMap` nothing is lost; unlike `concatMap` a burst costs one run.
 *
 * @example
 * resyncRequests$.pipe(coalesceMap((full) => relist(full), (a, b) => a || b));
 */
export function coalesceMap<T, R>(
  project: (value: T) => ObservableInput<R>,
  merge: (pending: T, next: T) => T,
): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      let running = false;
      let pending: { value: T } | undefined;
      let sourceDone = false;
      const run = (value: T): void => {
        running = true;
        const inner = from(project(value)).subscribe({
          next: (r) => subscriber.next(r),
          error: (e) => subscriber.error(e),
          complete: () => {
            running = false;
            if (pending) {
              const next = pending.value;
              pending = undefined;
              run(next);
            } else if (sourceDone) {
              subscriber.complete();
            }
          },
        });
        subscriber.add(inner);
      };
      subscriber.add(
        source.subscribe({
          next: (value) => {
            if (!running) run(value);
            else pending = { value: pending ? merge(pending.value, value) : value };
          },
          error: (e) => subscriber.error(e),
          complete: () => {
            sourceDone = true;
            if (!running) subscriber.complete();
          },
        }),
      );
    });
}
