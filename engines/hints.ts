/**
 * Lookup hints: what an adapter learnt of an ID (from an event or a list) before the core asks to
 * inspect it, so that the inspection can make fewer calls. Shared by the CRI and containerd
 * adapters.
 *
 * @module
 */

/** Default bound of {@link LookupHints}: entries beyond it drop the oldest. */
export const DEFAULT_MAX_HINTS = 10_000;

/**
 * The hints of one adapter, by ID, bounded: taken (and so dropped) by the inspection that uses
 * them, dropped when the engine tells the ID died, pruned by lists, and capped at `max` entries,
 * dropping the oldest first. Each hint remembers when it was given, so that a list prunes only
 * hints older than its own call (a start during the list keeps its hint).
 *
 * @example
 * const hints = new LookupHints<number>();   // e.g. the PID a start event told
 * hints.set('c1', 4242);
 * const since = hints.mark();                 // before a list call
 * hints.prune(new Set(['c1']), since);        // after it: drops the older hints of IDs not listed
 * hints.take('c1');                           // 4242, and gone
 */
export class LookupHints<H> {
  readonly #hints = new Map<string, { readonly hint: H; readonly seq: number }>();
  #seq = 0;

  constructor(private readonly max = DEFAULT_MAX_HINTS) {}

  /** How many hints are kept. */
  get size(): number {
    return this.#hints.size;
  }

  /** Remembers `hint` for `id` (replacing an older one), dropping the oldest beyond the cap. */
  set(id: string, hint: H): void {
    this.#hints.delete(id);
    this.#hints.set(id, { hint, seq: this.#seq++ });
    for (const oldest of this.#hints.keys()) {
      if (this.#hints.size <= this.max) break;
      this.#hints.delete(oldest);
    }
  }

  /** The hint for `id`, if any, without dropping it. */
  get(id: string): H | undefined {
    return this.#hints.get(id)?.hint;
  }

  /** The hint for `id`, if any, dropping it. */
  take(id: string): H | undefined {
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
