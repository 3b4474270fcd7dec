/**
 * The runner behind `npm test` (after the type-check):
 *
 * 1. As root on Debian, unless all `WHALEWATCHER_TEST_*` endpoints (provision.ts) are given in the
 *    environment: bring the private engines up (`scripts/engines/up.sh`, its duration printed).
 *    Engines that already answer are reused and left running afterwards.
 * 2. Run mocha over `spec/**\/*.spec.ts`, with the extra command-line arguments appended (an
 *    argument that ends in `.ts` or holds a `*` replaces the default spec glob).
 * 3. Only when no argument was given (the whole `npm test`), while the engines are still up:
 *    the package test (scripts/package-test.ts: the packed tarball installed in a scratch
 *    project, loaded with require() and import, type-checked, attw and publint) and the Node.js
 *    matrix (scripts/node-matrix.ts: unit and adapter suites on Node 22, 24 and 26). Either
 *    failing fails the run. `WHALEWATCHER_TEST_EXTRAS=0` leaves both out, `=1` runs them even
 *    with arguments.
 * 4. Stop the engines that THIS run started (`scripts/engines/down.sh`), none other.
 * 5. Print each part's duration; exit with mocha's exit code, else 1 if an extra failed.
 *
 * Under `CI=true` a failed engines:up fails the run at once; elsewhere the engine suites skip.
 *
 * Usage: `npm test`, `npm test -- --grep smoke`, `npm test -- spec/engines/smoke.spec.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { provisionEngines, releaseEngines } from './engines/provision.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CI = process.env['CI'] === 'true';

let current: ChildProcess | undefined;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true;
    current?.kill(signal);
  });
}

function say(line: string): void {
  console.log(`[test] ${line}`);
}

/** How long each part of the run took, printed at the end. */
const durations: string[] = [];

/** Runs `part`, recording its duration and outcome. */
async function timed(what: string, part: () => Promise<number>): Promise<number> {
  const t0 = Date.now();
  const code = await part();
  durations.push(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s${code === 0 ? '' : ` (exit code ${code})`}`);
  return code;
}

/** Runs a command with inherited stdio; resolves with its exit code (128+n for a signal). */
function run(cmd: string, args: readonly string[], stdio: 'inherit' | 'pipe' = 'inherit'): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], { cwd: ROOT, stdio: stdio === 'inherit' ? 'inherit' : ['ignore', 'pipe', 'inherit'] });
    current = child;
    let stdout = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (s: string) => (stdout += s));
    child.on('error', (e) => {
      console.error(`[test] cannot run ${cmd}: ${e.message}`);
      current = undefined;
      resolve({ code: 127, stdout });
    });
    child.on('close', (code, signal) => {
      current = undefined;
      const signals: Record<string, number> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
      resolve({ code: code ?? 128 + (signal ? (signals[signal] ?? 1) : 1), stdout });
    });
  });
}

async function engineSetup(): Promise<{ started: string[]; ok: boolean }> {
  const { started, ok, seconds } = await provisionEngines(run, say);
  if (started.length) durations.push(`engines:up: ${seconds.toFixed(1)} s${ok ? '' : ' (failed)'}`);
  return { started, ok };
}

const engineTeardown = (started: readonly string[]) => releaseEngines(started, run, say);

async function main(): Promise<number> {
  const extra = process.argv.slice(2);
  const { started, ok } = await engineSetup();
  if (!ok) {
    if (CI || interrupted) {
      await engineTeardown(started);
      say(CI ? 'CI=true: a failed engines:up fails the run' : 'interrupted');
      return 1;
    }
    say('continuing: the engine suites will skip what is missing');
  }
  let code = 130;
  let extrasFailed = false;
  if (!interrupted) {
    const specsGiven = extra.some((a) => !a.startsWith('-') && (a.endsWith('.ts') || a.includes('*')));
    const mocha = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
    const args = [mocha, ...(specsGiven ? [] : ['spec/**/*.spec.ts']), ...extra];
    code = await timed('mocha', async () => (await run(process.execPath, args)).code);
    const extrasWanted = process.env['WHALEWATCHER_TEST_EXTRAS'];
    if (extrasWanted === '1' || (extrasWanted !== '0' && extra.length === 0)) {
      const tsx = ['--import', 'tsx'];
      for (const [what, file] of [
        ['package test', 'package-test.ts'],
        ['Node.js matrix', 'node-matrix.ts'],
      ] as const) {
        if (interrupted) break;
        say(`${what} (scripts/${file})`);
        const partCode = await timed(what, async () => (await run(process.execPath, [...tsx, path.join(ROOT, 'scripts', file)])).code);
        if (partCode !== 0) extrasFailed = true;
      }
    }
  }
  if (started.length > 0) await timed('engines:down', async () => (await engineTeardown(started), 0));
  for (const line of durations) say(line);
  if (code === 0 && (extrasFailed || interrupted)) code = interrupted ? 130 : 1;
  return code;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error('[test]', e);
    process.exit(1);
  },
);
