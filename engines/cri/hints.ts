import type { PodSandboxMetadata } from '../../protos/gen/runtime/v1/api_pb.js';

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

/** Default bound of {@link LookupHints}: entries beyond it drop the oldest. */
export const DEFAULT_MAX_HINTS = 10_000;

/**
 * The hints of one adapter, by ID, bounded: taken (and so dropped) by the inspection that uses
 * them, dropped on a STOPPED event, pruned by lists, and capped at `max` entries, dropping the
 * oldest first. Each hint remembers when it was given, so that a list prunes only hints older
 * than its own call (a STARTED during the list keeps its hint).
 *
 * @example
 * const hints = new LookupHints();
 * hints.set('c1', { sandbox: false, pod });
 * const since = hints.mark();           // before a list call
 * hints.prune(new Set(['c1']), since);  // after it: drops the older hints of IDs not listed
 * hints.take('c1');                     // { sandbox: false, pod }, and gone
 */
export class LookupHints {
  readonly #hints = new Map<string, { readonly hint: LookupHint; readonly seq: number }>();
  #seq = 0;

  constructor(private readonly max = DEFAULT_MAX_HINTS) {}

  /** How many hints are kept. */
  get size(): number {
    return this.#hints.size;
  }

  /** Remembers `hint` for `id` (replacing an older one), dropping the oldest beyond the cap. */
  set(id: string, hint: LookupHint): void {
    this.#hints.delete(id);
    this.#hints.set(id, { hint, seq: this.#seq++ });
    for (const oldest of this.#hints.keys()) {
      if (this.#hints.size <= this.max) break;
      this.#hints.delete(oldest);
    }
  }

  /** The hint for `id`, if any, without dropping it. */
  get(id: string): LookupHint | undefined {
    return this.#hints.get(id)?.hint;
  }

  /** The hint for `id`, if any, dropping it. */
  take(id: string): LookupHint | undefined {
    const entry = this.#hints.get(id);
    this.#hints.delete(id);
    return entry?.hint;
  }

  /** Drops the hint for `id`. */
  delete(id: string): void {
    this.#hints.delete(id);
  }

  /** A mark of "now", for {@link prune}. */
  mark(): number {
    return this.#seq;
  }

  /** Drops the hints given before `mark` whose IDs are not in `alive`. */
  prune(alive: ReadonlySet<string>, mark: number): void {
    for (const [id, { seq }] of this.#hints) if (seq < mark && !alive.has(id)) this.#hints.delete(id);
  }

  /** Drops every hint. */
  clear(): void {
    this.#hints.clear();
  }
}
