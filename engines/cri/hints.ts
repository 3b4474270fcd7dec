import type { PodSandboxMetadata } from '../../protos/gen/runtime/v1/api_pb.js';
import { LookupHints as Hints } from '../hints.js';

export { DEFAULT_MAX_HINTS } from '../hints.js';

/**
 * What the CRI adapter learnt about an ID before inspecting it, from a STARTED event or a list:
 * whether it is a pod sandbox or a workload container, and for a container its pod's metadata
 * when known. With it, an inspection costs one status call instead of up to four.
 *
 * @example
 * const hint: LookupHint = { sandbox: false, pod: event.podSandboxStatus?.metadata };
 */
export type LookupHint =
  | { readonly sandbox: true }
  | { readonly sandbox: false; readonly pod: PodSandboxMetadata | undefined };

/**
 * The CRI adapter's {@link LookupHint}s by ID: the shared bounded hint store
 * (`engines/hints.ts`), dropped on a STOPPED event, pruned by lists.
 *
 * @example
 * const hints = new LookupHints();
 * hints.set('c1', { sandbox: false, pod });
 * hints.take('c1');                     // { sandbox: false, pod }, and gone
 */
export class LookupHints extends Hints<LookupHint> {}
