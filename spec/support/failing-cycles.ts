/**
 * A child program for the leaks suite: creates CRI watchers that require events against a
 * runtime without them (each one fails with WrongEngineError), closes each at once, and lets
 * the process end by itself. Prints one JSON line: how the cycles ended.
 *
 * Usage: node --import tsx spec/support/failing-cycles.ts SOCKET CYCLES
 */
import { criWatcher } from '../../engines/cri/index.js';
import { WrongEngineError } from '../../lib/errors.js';

const [socket, cycles] = process.argv.slice(2);
const outcomes: Record<string, number> = {};
for (let i = 0; i < Number(cycles); i++) {
  const w = criWatcher(socket!, { events: 'required', backoff: false });
  const outcome = await w.ready({ signal: AbortSignal.timeout(10_000) }).then(
    () => 'resolved',
    (err: unknown) => (err instanceof WrongEngineError ? 'WrongEngineError' : String(err)),
  );
  outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  await w.close();
}
console.log(JSON.stringify(outcomes));
