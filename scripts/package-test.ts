/**
 * The package test: what a user gets from `npm install whalewatcher`, checked on the packed
 * tarball rather than on the repository.
 *
 * 1. `npm run build`, then `npm pack` into a temporary folder.
 * 2. A scratch project there: `npm install --no-audit --no-fund <tarball> rxjs@<the pinned
 *    devDependency> @types/node@<TYPES_NODE>` (the registry, or npm's cache when warm).
 * 3. At run time, on this Node and on every tested Node line (scripts/node-versions.ts, cached
 *    binaries; `--this-node-only` skips them): spec/package/consumer/check.cjs loads every entry
 *    point with require() and check.mjs with import; both must find the same names (the
 *    fundamental ones among them), watch a FakeEngine to a first portfolio, and get an
 *    EngineUnreachableError from a socket that does not exist; check.mjs also asserts that
 *    require() and import hand out the very same objects (no dual-package hazard), with an error
 *    from a watcher made through require() being an instance of the imported classes.
 * 4. The `whalewatcher` command runs (`--version`).
 * 5. Types: spec/package/consumer/consumer.ts type-checks (strict) as consumer.cts and
 *    consumer.mts under `"module": "node16"` (from the require and the import declarations
 *    respectively, both checked themselves: skipLibCheck off) and as consumer.ts under
 *    `"moduleResolution": "bundler"` (skipLibCheck on: the same declarations, 15 s less).
 * 6. `attw` (@arethetypeswrong/cli, strict profile) and `publint --strict` on the tarball report
 *    no problem.
 *
 * Usage: `npm run test:package -- [--this-node-only] [--keep]` (`--keep` leaves the temporary
 * folder). Exit code 0 when everything held; each step's duration is printed.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NODE_VERSIONS, ROOT, installNode, run, since } from './node-versions.js';

/** @types/node of the consumer: the newest of the oldest supported line (20.19). */
const TYPES_NODE = '20.19.43';
const FIXTURES = path.join(ROOT, 'spec', 'package', 'consumer');
const ENTRIES = ['whalewatcher', 'whalewatcher/moby', 'whalewatcher/containerd', 'whalewatcher/cri', 'whalewatcher/testing'];
/** Names each entry point must export (at least), with their kind. */
const FUNDAMENTALS: Readonly<Record<string, readonly string[]>> = {
  whalewatcher: [
    'mobyWatcher: function',
    'containerdWatcher: function',
    'criWatcher: function',
    'fleet: function',
    'watch: function',
    'selectProject: function',
    'selectContainer: function',
    'WhalewatcherError: function',
    'EngineUnreachableError: function',
    'WrongEngineError: function',
    'ProtocolError: function',
    'WatcherAbortedError: function',
  ],
  'whalewatcher/moby': ['mobyWatcher: function'],
  'whalewatcher/containerd': ['containerdWatcher: function'],
  'whalewatcher/cri': ['criWatcher: function'],
  'whalewatcher/testing': ['FakeEngine: function'],
};

interface CheckResult {
  shapes: Record<string, string[]>;
  shop: string[] | null;
  error: string | undefined;
  unreachable: boolean;
  sameInstances?: true | string[];
}

function say(line: string): void {
  console.log(`[package-test] ${line}`);
}

const failures: string[] = [];
function check(ok: boolean, what: string): void {
  if (!ok) {
    failures.push(what);
    say(`FAILED: ${what}`);
  }
}

/**
 * Runs one step, printing its duration; a non-zero exit code is a failure. `pipe` captures its
 * stdout (returned); `showOnFailure` prints what it captured when it fails.
 */
async function step(what: string, cmd: string, args: readonly string[], cwd: string, pipe = false, showOnFailure = false): Promise<string> {
  const t0 = Date.now();
  const { code, stdout } = await run(cmd, args, { cwd, pipe, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
  if (code !== 0 && showOnFailure) console.log(stdout);
  say(`${what}: ${code === 0 ? 'ok' : `FAILED (exit code ${code})`} in ${since(t0)}`);
  check(code === 0, `${what} (exit code ${code})`);
  return stdout;
}

/** The runtime checks with one Node binary. */
async function runtime(node: string, label: string, scratch: string): Promise<void> {
  const results: Partial<Record<'cjs' | 'mjs', CheckResult>> = {};
  for (const kind of ['cjs', 'mjs'] as const) {
    const out = await step(`${label}: ${kind === 'cjs' ? 'require()' : 'import'} of every entry point`, node, [`check.${kind}`], scratch, true);
    try {
      results[kind] = JSON.parse(out.trim().split('\n').pop() ?? '') as CheckResult;
    } catch {
      check(false, `${label}: check.${kind} printed no result: ${out.slice(0, 500)}`);
    }
  }
  const { cjs, mjs } = results;
  if (!cjs || !mjs) return;
  for (const [kind, r] of Object.entries(results)) {
    for (const entry of ENTRIES) {
      const missing = (FUNDAMENTALS[entry] ?? []).filter((n) => !r.shapes[entry]?.includes(n));
      check(missing.length === 0, `${label}: ${kind} ${entry} lacks ${missing.join(', ')}`);
    }
    check(JSON.stringify(r.shop) === '["web"]', `${label}: ${kind} watched the FakeEngine to ${JSON.stringify(r.shop)}, not ["web"]`);
    check(r.error === 'EngineUnreachableError' && r.unreachable, `${label}: ${kind} got ${r.error} from a missing socket`);
  }
  check(JSON.stringify(cjs.shapes) === JSON.stringify(mjs.shapes), `${label}: require() and import expose different names`);
  check(mjs.sameInstances === true, `${label}: require() and import differ in ${JSON.stringify(mjs.sameInstances)}`);
}

/** Type-checks one consumer configuration; `--listFiles` tells which declarations it used. */
async function types(config: string, scratch: string, want: readonly string[], unwanted: readonly string[]): Promise<void> {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const out = await step(`types: tsc -p ${config}`, process.execPath, [tsc, '-p', config, '--listFiles', '--pretty', 'false'], scratch, true);
  const files = out.split('\n').map((l) => l.trim());
  const errors = files.filter((l) => /error TS\d+/.test(l));
  if (errors.length > 0) console.log(errors.join('\n'));
  const used = (d: string) => files.some((f) => f.endsWith(`/node_modules/whalewatcher/${d}`));
  for (const d of want) check(used(d), `${config}: did not use ${d}`);
  for (const d of unwanted) check(!used(d), `${config}: used ${d}`);
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const started = Date.now();
  const work = mkdtempSync(path.join(os.tmpdir(), 'whalewatcher-package-'));
  try {
    // 1. Build and pack.
    await step('npm run build', 'npm', ['run', 'build', '--silent'], ROOT);
    if (failures.length > 0) return 1;
    const packed = await step('npm pack', 'npm', ['pack', '--ignore-scripts', '--json', '--silent', '--pack-destination', work], ROOT, true);
    const [info] = JSON.parse(packed) as { filename: string; size: number; unpackedSize: number; entryCount: number }[];
    if (!info) throw new Error('npm pack printed no file');
    const tarball = path.join(work, info.filename);
    say(`${info.filename}: ${info.entryCount} files, ${(info.size / 1024).toFixed(0)} kB packed, ${(info.unpackedSize / 1024).toFixed(0)} kB unpacked`);

    // 2. The scratch project.
    const scratch = path.join(work, 'consumer');
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const rxjs = pkg.devDependencies['rxjs'];
    if (!rxjs) throw new Error('package.json pins no rxjs devDependency');
    rmSync(scratch, { recursive: true, force: true });
    await run('mkdir', ['-p', scratch]);
    writeFileSync(path.join(scratch, 'package.json'), `${JSON.stringify({ name: 'whalewatcher-package-test', private: true }, null, 2)}\n`);
    await step(
      `npm install <tarball> rxjs@${rxjs} @types/node@${TYPES_NODE}`,
      'npm',
      ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', '--loglevel=error', tarball, `rxjs@${rxjs}`, `@types/node@${TYPES_NODE}`],
      scratch,
    );
    if (failures.length > 0) return 1;
    for (const f of ['check.cjs', 'check.mjs', 'tsconfig.node16.json', 'tsconfig.bundler.json']) copyFileSync(path.join(FIXTURES, f), path.join(scratch, f));
    for (const f of ['consumer.cts', 'consumer.mts', 'consumer.ts']) copyFileSync(path.join(FIXTURES, 'consumer.ts'), path.join(scratch, f));

    // Three lanes at once (two cores; the node16 type-check alone takes about 20 s):
    // 3. require() and import, on every tested Node, then 4. the command;
    // 5. the types, as CommonJS and as ES module (node16), and for bundlers;
    // 6. the linters of packages (their output printed when they fail).
    const bin = (name: string) => path.join(ROOT, 'node_modules', '.bin', name);
    await Promise.all([
      (async () => {
        await runtime(process.execPath, `Node ${process.version}`, scratch);
        if (!argv.includes('--this-node-only')) {
          for (const entry of NODE_VERSIONS) {
            let node: string;
            try {
              node = await installNode(entry, say);
            } catch (e) {
              check(false, `Node v${entry.version}: cannot install: ${e instanceof Error ? e.message : String(e)}`);
              continue;
            }
            await runtime(node, `Node v${entry.version}`, scratch);
          }
        }
        const version = await step('the whalewatcher command', path.join(scratch, 'node_modules', '.bin', 'whalewatcher'), ['--version'], scratch, true);
        const expected = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
        check(version.trim().includes(expected), `whalewatcher --version printed ${version.trim()}, not ${expected}`);
      })(),
      (async () => {
        await types('tsconfig.node16.json', scratch, ['dist/cjs/index.d.ts', 'dist/index.d.ts', 'dist/cjs/lib/testing/index.d.ts', 'dist/lib/testing/index.d.ts'], []);
        await types('tsconfig.bundler.json', scratch, ['dist/index.d.ts', 'dist/engines/cri/index.d.ts'], ['dist/cjs/index.d.ts']);
      })(),
      (async () => {
        await step('attw (strict profile)', bin('attw'), [tarball, '--profile', 'strict', '--no-definitely-typed', '--format', 'table', '--no-color'], ROOT, true, true);
        await step('publint --strict', bin('publint'), ['run', tarball, '--strict'], ROOT, true, true);
      })(),
    ]);
  } finally {
    if (argv.includes('--keep')) say(`left ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
  say(failures.length === 0 ? `passed in ${since(started)}` : `${failures.length} FAILED in ${since(started)}:\n  ${failures.join('\n  ')}`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error('[package-test]', e);
    process.exit(1);
  },
);
