import type { ContainerDetails, ContainerSummary } from './adapter.js';

/**
 * Everything that can happen to a watcher's state. The pipeline stamps each action with `at`,
 * the engine's event time where it gave one, else the time the watcher learned of it, so that
 * the reducer stays pure.
 *
 * @example
 * const a: Action = { type: 'died', id: 'c1', at: new Date() };
 */
export type Action =
  /** The event subscription is live (a new connection). */
  | { readonly type: 'connected'; readonly at: Date }
  /** The connection broke; in-flight lists and inspections are void. */
  | { readonly type: 'disconnected'; readonly at: Date }
  /** A list call is about to be made; `full` asks to re-inspect every container it returns. */
  | { readonly type: 'listRequested'; readonly full: boolean; readonly at: Date }
  /** The list call returned. */
  | { readonly type: 'listed'; readonly summaries: readonly ContainerSummary[]; readonly at: Date }
  /** An inspection returned (`null`: gone or not alive); `requestSeq` ties it to its request. */
  | {
      readonly type: 'inspected';
      readonly id: string;
      readonly requestSeq: number;
      readonly details: ContainerDetails | null;
      readonly at: Date;
    }
  /** A lookup failed or ran past its deadline; only its container is concerned. */
  | { readonly type: 'lookupFailed'; readonly id: string; readonly requestSeq: number; readonly reason: string; readonly at: Date }
  /** The adapter skipped or ignored something; told on `diagnostics$`, changes nothing. */
  | { readonly type: 'diagnosed'; readonly code: string; readonly message: string; readonly id?: string; readonly at: Date }
  | { readonly type: 'started'; readonly id: string; readonly details?: ContainerDetails; readonly at: Date }
  | {
      readonly type: 'died';
      readonly id: string;
      readonly at: Date;
      /** The engine's own event time, when it gave one (then `at` equals it). */
      readonly engineAt?: Date;
      /** PID of the process that ended, when the engine tells. */
      readonly pid?: number;
    }
  | { readonly type: 'paused' | 'unpaused'; readonly id: string; readonly at: Date; readonly engineAt?: Date }
  | {
      readonly type: 'updated';
      readonly id: string;
      readonly name?: string;
      readonly labels?: Readonly<Record<string, string>>;
      readonly at: Date;
    };

/**
 * A request, decided by the reducer, to inspect one container; `seq` identifies it.
 *
 * @example
 * const r: InspectRequest = { id: 'c1', seq: 42 };
 */
export interface InspectRequest {
  readonly id: string;
  readonly seq: number;
}
