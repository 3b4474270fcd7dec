/**
 * Second step of `npm run build` (after `tsc -p tsconfig.build.json` has emitted the ES modules
 * and their declarations to dist/): the CommonJS entry points, under dist/cjs/.
 *
 * How CommonJS consumers are served, and why (not a second, CommonJS build of the code):
 *
 * - The code exists once, as ES modules. `require('whalewatcher')` (and `/moby`, `/containerd`,
 *   `/cri`, `/testing`) resolves through the `require` condition of package.json's `exports` to
 *   a one-line CommonJS file, `module.exports = require('<the ES module>')`: Node's require(esm),
 *   unflagged and silent since Node 20.19 and 22.12 (hence `engines`). So `require()` and
 *   `import` hand out the very same module instances: there is no dual-package hazard at all
 *   (one `WhalewatcherError` class, `instanceof` holds whichever way a module was loaded, one
 *   copy of every module-level state). A dual build would have needed every error class to brand
 *   itself (`Symbol.hasInstance`) and would still have doubled the state and the code.
 * - Types: TypeScript 5.9 under `"module": "node16"` rejects a CommonJS file's import of an ES
 *   module (TS1479; only `node20`/`nodenext` model require(esm)), and @arethetypeswrong/cli
 *   reports "ESM (dynamic import only)" for it. So the `require` condition has declarations of
 *   its own: the same .d.ts files, copied under dist/cjs/, whose package.json says
 *   `{"type": "commonjs"}`: CommonJS declarations of what that require() returns. `typesVersions`
 *   gives TypeScript's legacy `node10` resolution the subpaths (it ignores `exports`).
 * - What it costs: the ES module graph must never use top-level await (require(esm) throws
 *   ERR_REQUIRE_ASYNC_MODULE then), and a loader with a require() of its own that cannot load ES
 *   modules (Jest's CommonJS runtime) needs its ES module mode. The package test
 *   (scripts/package-test.ts) checks both ways of loading on every tested Node version.
 *
 * The entry points come from package.json's `exports`: each `require.default` file requires its
 * `import.default` file, and each `require.types` must be the copy of its `import.types`.
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const CJS = path.join(DIST, 'cjs');

interface Target {
  readonly types: string;
  readonly default: string;
}
type Entry = string | { readonly import?: Target; readonly require?: Target };

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Entry> };
mkdirSync(CJS, { recursive: true });
writeFileSync(path.join(CJS, 'package.json'), '{ "type": "commonjs" }\n');

// The declarations, as CommonJS ones (dist/cli is the command, not an entry point).
let declarations = 0;
for (const file of walk(DIST)) {
  const rel = path.relative(DIST, file);
  if (!rel.endsWith('.d.ts') || rel.startsWith(`cjs${path.sep}`) || rel.startsWith(`cli${path.sep}`)) continue;
  mkdirSync(path.dirname(path.join(CJS, rel)), { recursive: true });
  copyFileSync(file, path.join(CJS, rel));
  declarations++;
}

// One CommonJS file per entry point.
let entries = 0;
for (const [subpath, entry] of Object.entries(pkg.exports)) {
  if (typeof entry === 'string') continue; // e.g. "./package.json"
  const { import: esm, require: cjs } = entry;
  if (!esm || !cjs) throw new Error(`exports["${subpath}"] needs both an import and a require condition`);
  if (cjs.types !== esm.types.replace(/^\.\/dist\//, './dist/cjs/') || !cjs.default.startsWith('./dist/cjs/')) {
    throw new Error(`exports["${subpath}"].require must be the dist/cjs/ copy of its import condition`);
  }
  const from = path.join(ROOT, cjs.default);
  const to = path.relative(path.dirname(from), path.join(ROOT, esm.default)).split(path.sep).join('/');
  writeFileSync(
    from,
    `'use strict';\n// CommonJS entry of whalewatcher: the ES module itself (require(esm), Node ^20.19 or >=22.12),\n// so that require() and import share one instance.\nmodule.exports = require('${to.startsWith('.') ? to : `./${to}`}');\n`,
  );
  entries++;
}
console.log(`[build-cjs] dist/cjs: ${entries} CommonJS entry points over the ES modules, ${declarations} declaration files`);
