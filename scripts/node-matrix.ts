/**
 * The Node.js matrix: runs the unit suites and one engine suite per engine on every tested
 * Node.js line besides the one running this script (the machine's Node 20, which `npm test`
 * covers with everything), with mocha run by that Node binary
 * (`<node> node_modules/mocha/bin/mocha.js …`; mocha's worker process and tsx inherit it).
 * The versions and where their binaries come from: scripts/node-versions.ts.
 *
 * Engine suites need the four private engines up (`npm test` runs this while they are);
 * spec/support/engines.ts finds them through `RUN/env` or the `WHALEWATCHER_TEST_*` variables.
 * Under `CI=true` a missing engine fails them instead of skipping them.
 *
 * Usage: `npm run test:node-matrix -- [--only 22,24] [--install-only] [--unit-only] [spec files…]`
 * (spec files replace the default engine suites). Exit code 0 when every version passed.
 */
import * as path from 'node:path';
import { NODE_VERSIONS, ROOT, installNode, run, since } from './node-versions.js';

/** Unit suites (no engine), and per engine one suite of the library's own client for it. */
const UNIT_SUITES = ['spec/unit/**/*.spec.ts'];
const ENGINE_SUITES = [
  'spec/engines/moby-adapter.spec.ts', // Docker and Podman: HTTP/1.1 over unix sockets
  'spec/engines/containerd-adapter.spec.ts', // containerd 1.7, native API: gRPC over HTTP/2
  'spec/engines/cri-adapter.spec.ts', // CRI on containerd 1.7 and on containerd 1.6 (no events)
];

function say(line: string): void {
  console.log(`[node-matrix] ${line}`);
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const flag = (name: string) => argv.includes(name);
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? new Set((argv[onlyAt + 1] ?? '').split(',').map(Number)) : undefined;
  const specs = argv.filter((a, i) => !a.startsWith('-') && (onlyAt < 0 || i !== onlyAt + 1));
  const versions = NODE_VERSIONS.filter((v) => !only || only.has(v.major));
  if (versions.length === 0) {
    say(`no tested version matches --only ${argv[onlyAt + 1] ?? ''}`);
    return 2;
  }
  const suites = [...UNIT_SUITES, ...(flag('--unit-only') ? [] : specs.length > 0 ? specs : ENGINE_SUITES)];
  const mocha = path.join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
  const results: string[] = [];
  let failed = 0;
  for (const entry of versions) {
    const t0 = Date.now();
    let node: string;
    try {
      node = await installNode(entry, say);
    } catch (e) {
      failed++;
      results.push(`Node v${entry.version}: cannot install: ${e instanceof Error ? e.message : String(e)}`);
      say(results[results.length - 1]!);
      continue;
    }
    if (flag('--install-only')) {
      results.push(`Node v${entry.version}: ${node} (${since(t0)})`);
      continue;
    }
    say(`Node v${entry.version}: mocha ${suites.join(' ')}`);
    const tests = Date.now();
    const { code } = await run(node, [mocha, ...suites]);
    if (code !== 0) failed++;
    results.push(`Node v${entry.version}: ${code === 0 ? 'passed' : `FAILED (exit code ${code})`} in ${since(tests)}`);
  }
  for (const line of results) say(line);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error('[node-matrix]', e);
    process.exit(1);
  },
);
