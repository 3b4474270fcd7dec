/**
 * Figures, statistics and the printed table of `npm run bench`.
 *
 * @module
 */

/** One figure of the benchmark: a value, its baseline measured in the same run, the ratio, the target. */
export interface Row {
  /** Stable key, e.g. `sync.vsSequential`. */
  readonly key: string;
  /** Section number (1…6: issue 8; 7: after a burst, issue 13; 8: containerd, 9: CRI, 10: Podman — issue "Performance"). */
  readonly section: number;
  /** What is measured, as printed. */
  readonly figure: string;
  readonly value: number;
  readonly unit: string;
  /** The baseline, measured side by side in the same run. */
  readonly baseline?: { readonly label: string; readonly value: number; readonly unit: string };
  /** value / baseline (or another named ratio). */
  readonly ratio?: number;
  /** The target and whether it was met. */
  readonly target?: { readonly text: string; readonly met: boolean };
  /** Anything else worth keeping in the JSON (repetitions, raw samples, counts). */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** A section that could not run (e.g. an engine that does not answer). */
export interface Skipped {
  readonly section: number;
  readonly what: string;
  readonly why: string;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0…100). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length, Math.max(1, rank)) - 1]!;
}

/** A target `ratio <= limit`. */
export function atMost(value: number, limit: number, what = ''): { text: string; met: boolean } {
  return { text: `≤ ${fmt(limit)}${what}`, met: value <= limit };
}

export function fmt(x: number | undefined, unit = ''): string {
  if (x === undefined || Number.isNaN(x)) return '—';
  const abs = Math.abs(x);
  let s: string;
  if (abs === 0 || Number.isInteger(x)) s = String(x);
  else if (abs >= 100) s = x.toFixed(0);
  else if (abs >= 10) s = x.toFixed(1);
  else if (abs >= 1) s = x.toFixed(2);
  else if (abs >= 0.01) s = x.toFixed(3);
  else s = x.toExponential(2);
  return unit ? `${s} ${unit}` : s;
}

const RATIO_SUFFIX = 'x';

/** The table as printed: figure | value | baseline | ratio | target | status. */
export function table(rows: readonly Row[], skipped: readonly Skipped[]): string {
  const header = ['#', 'figure', 'value', 'baseline', 'ratio', 'target', ''];
  const body = rows.map((r) => [
    String(r.section),
    r.figure,
    fmt(r.value, r.unit),
    r.baseline ? `${fmt(r.baseline.value, r.baseline.unit)} (${r.baseline.label})` : '—',
    r.ratio === undefined ? '—' : `${fmt(r.ratio)}${RATIO_SUFFIX}`,
    r.target?.text ?? '—',
    r.target ? (r.target.met ? 'ok' : 'MISSED') : '',
  ]);
  for (const s of skipped) body.push([String(s.section), s.what, 'SKIPPED', s.why, '', '', 'SKIPPED']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

/** Milliseconds since an arbitrary origin, high resolution. */
export const now = (): number => performance.now();

/** Runs `fn` and returns how long it took in ms. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = now();
  await fn();
  return now() - t;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Prints a progress line to stderr (the table goes to stdout). */
export function say(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}
