/**
 * How an adapter tells the core about containers its `list()` or `inspect()` skipped: the engine
 * described them in a way the adapter cannot read (an unknown status value, verbose info that is
 * not JSON, a malformed inspection). The adapter treats such a container as not alive and says
 * so as a `diagnostic` event on its event stream, the one channel the core reads diagnostics from.
 *
 * @module
 */
import { Observable, Subject } from 'rxjs';
import type { EngineEvent } from '../lib/adapter.js';

/**
 * The skip notices of one adapter, told on its event stream.
 *
 * @example
 * const skipped = new SkippedContainers();
 * // in events():  return skipped.along(stream$);
 * // in inspect(): return skipped.skip(id, 'unknown-status', `task status 42 of ${id} is unknown`);
 */
export class SkippedContainers {
  readonly #notices = new Subject<EngineEvent>();

  /** Tells that container `id` was skipped and why (`code` names the kind); returns `null`, "not alive". */
  skip(id: string, code: string, message: string): null {
    this.#notices.next({ type: 'diagnostic', code, id, message: `skipped ${id}: ${message}` });
    return null;
  }

  /** `events` with the skip notices told among them, for as long as `events` runs. */
  along(events: Observable<EngineEvent>): Observable<EngineEvent> {
    return new Observable<EngineEvent>((subscriber) => {
      const subscription = this.#notices.subscribe((notice) => subscriber.next(notice));
      subscription.add(events.subscribe(subscriber));
      return subscription;
    });
  }
}
