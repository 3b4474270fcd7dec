import { Observable } from 'rxjs';

/**
 * Mirrors `source`, calling `start` on every subscription right after the subscriber is in
 * place, so that it sees what starting emits (a watcher's `connecting` state, its first
 * events). `start` must be idempotent.
 *
 * @example
 * this.state$ = startOnSubscribe(this.#status.asObservable(), () => this.#start());
 */
export function startOnSubscribe<T>(source: Observable<T>, start: () => void): Observable<T> {
  return new Observable<T>((subscriber) => {
    const subscription = source.subscribe(subscriber);
    start();
    return subscription;
  });
}
