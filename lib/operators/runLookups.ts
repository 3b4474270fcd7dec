import { Observable, type OperatorFunction, type SchedulerLike, Subscription } from 'rxjs';
import type { Action, InspectRequest } from '../actions.js';
import type { Transition } from '../reducer.js';

/**
 * Runs the lookups that the reducer's steps ask for, at most `concurrency` at a time, and emits
 * the actions their answers make. Only lookups that the latest state still wants run: a request
 * superseded by a newer one of the same container, or whose container died (the reducer then
 * drops it from `inflight`), is dropped while queued and cancelled while running, which frees its
 * slot. The queue holds one entry per container and is swept whenever it outgrows what the state
 * still wants, so memory stays bounded by the containers really waiting, whatever the burst.
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
      const running = new Map<string, { readonly seq: number; readonly subscription: Subscription }>();
      let latest: Transition['state'] | undefined;
      let pumpPending = false;
      let task: Subscription | undefined;
      const wanted = (id: string, seq: number) => latest?.inflight.get(id)?.seq === seq;

      const start = (id: string, seq: number) => {
        // The entry's subscription exists before the lookup runs: an answer given synchronously
        // can make the next step cancel this very entry.
        const entry = { seq, subscription: new Subscription() };
        running.set(id, entry);
        entry.subscription.add(
          lookup({ id, seq }).subscribe({
            next: (action) => subscriber.next(action),
            error: (err: unknown) => subscriber.error(err),
            complete: () => {
              if (running.get(id) === entry) running.delete(id);
              kick();
            },
          }),
        );
      };

      const pump = () => {
        pumpPending = false;
        for (const [id, seq] of queued) {
          if (running.size >= slots) break;
          if (running.has(id)) continue; // the older one is still being cancelled or answered
          queued.delete(id);
          if (wanted(id, seq)) start(id, seq);
        }
      };

      const kick = () => {
        if (pumpPending || queued.size === 0 || running.size >= slots) return;
        pumpPending = true;
        task = scheduler.schedule(pump);
      };

      const subscription = steps.subscribe({
        next: ({ state, effects }) => {
          latest = state;
          for (const [id, r] of running) {
            if (!wanted(id, r.seq)) {
              running.delete(id);
              r.subscription.unsubscribe();
            }
          }
          for (const r of effects.lookups) {
            queued.delete(r.id); // re-queued at the end, with its newer seq
            queued.set(r.id, r.seq);
          }
          if (queued.size > 2 * state.inflight.size + 64) {
            for (const [qid, seq] of queued) if (!wanted(qid, seq)) queued.delete(qid);
          }
          kick();
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        subscription.unsubscribe();
        task?.unsubscribe();
        for (const r of running.values()) r.subscription.unsubscribe();
        running.clear();
        queued.clear();
      };
    });
}
