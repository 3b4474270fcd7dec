import { Observable, type OperatorFunction, type SchedulerLike, Subscription } from 'rxjs';
import type { Action, InspectRequest } from '../actions.js';
import type { Transition } from '../reducer.js';

/**
 * Runs the lookups that the reducer's steps ask for, at most `concurrency` at a time, and emits
 * the actions their answers make. Only lookups that the latest state still wants run: a request
 * superseded by a newer one of the same container, or whose container died (the reducer then
 * drops it from `inflight`), is dropped while queued. One already sent is let finish (or time
 * out), its answer dropped, and gives its slot up at once; while `concurrency` such orphans run,
 * no new lookup starts, so at most twice `concurrency` calls are ever in flight. Orphans are not
 * cancelled: in a burst that would reset thousands of calls, and HTTP/2 servers end a session
 * that resets streams that fast (nghttp2 does, with INTERNAL_ERROR). The queue holds one
 * entry per container and is swept whenever it outgrows what the state still wants, so memory
 * stays bounded by the containers really waiting, whatever the burst.
 *
 * Queued lookups start on `scheduler` (one task per burst): the events of one engine read are all
 * applied first, so a container that starts and dies within it is never looked up.
 *
 * @example
 * steps$.pipe(runLookups((r) => inspectAction(r), 4, asapScheduler)).subscribe(dispatch);
 */
export function runLookups(
  lookup: (request: InspectRequest) => Observable<Action>,
  concurrency: number,
  scheduler: SchedulerLike,
): OperatorFunction<Transition, Action> {
  const slots = Math.max(1, concurrency);
  return (steps) =>
    new Observable<Action>((subscriber) => {
      /** Waiting requests by container, oldest first; the value is the request's seq. */
      const queued = new Map<string, number>();
      /** Lookups the state wants, by container: they hold the slots. */
      const running = new Map<string, Lookup>();
      /** Lookups sent for containers the state no longer wants, oldest first. */
      const orphans = new Set<Lookup>();
      let latest: Transition['state'] | undefined;
      let pumpPending = false;
      let task: Subscription | undefined;
      const wanted = (id: string, seq: number) => latest?.inflight.get(id)?.seq === seq;

      const start = (id: string, seq: number) => {
        // The entry's subscription exists before the lookup runs: an answer given synchronously
        // can make the next step orphan this very entry.
        const entry: Lookup = { seq, orphaned: false, subscription: new Subscription() };
        running.set(id, entry);
        entry.subscription.add(
          lookup({ id, seq }).subscribe({
            next: (action) => entry.orphaned || subscriber.next(action),
            error: (err: unknown) => subscriber.error(err),
            complete: () => {
              if (running.get(id) === entry) running.delete(id);
              orphans.delete(entry);
              kick();
            },
          }),
        );
      };

      const pump = () => {
        pumpPending = false;
        for (const [id, seq] of queued) {
          if (running.size >= slots || orphans.size >= slots) break;
          if (running.has(id)) continue; // wanted and running already
          queued.delete(id);
          if (wanted(id, seq)) start(id, seq);
        }
      };

      const kick = () => {
        if (pumpPending || queued.size === 0 || running.size >= slots || orphans.size >= slots) return;
        pumpPending = true;
        task = scheduler.schedule(pump);
      };

      const subscription = steps.subscribe({
        next: ({ state, effects }) => {
          latest = state;
          for (const [id, entry] of running) {
            if (wanted(id, entry.seq)) continue;
            running.delete(id);
            entry.orphaned = true;
            orphans.add(entry);
          }
          for (const r of effects.lookups) {
            queued.delete(r.id); // re-queued at the end, with its newer seq
            queued.set(r.id, r.seq);
          }
          if (queued.size > 2 * state.inflight.size + 64) {
            for (const [id, seq] of queued) if (!wanted(id, seq)) queued.delete(id);
          }
          kick();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        subscription.unsubscribe();
        task?.unsubscribe();
        for (const entry of [...running.values(), ...orphans]) entry.subscription.unsubscribe();
        running.clear();
        orphans.clear();
        queued.clear();
      };
    });
}

/** A lookup on its way; `orphaned` once the state no longer wants its answer. */
interface Lookup {
  readonly seq: number;
  orphaned: boolean;
  readonly subscription: Subscription;
}
