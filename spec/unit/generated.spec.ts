import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const root = fileURLToPath(new URL('../..', import.meta.url));
const committed = join(root, 'protos/gen');

/** Every file below dir, as paths relative to dir, sorted. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d)) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}

describe('generated protobuf code (protos/gen)', function () {
  this.timeout(60_000);

  it('is up to date with the .proto files', function () {
    const out = mkdtempSync(join(tmpdir(), 'whalewatcher-gen-'));
    try {
      const bin = join(root, 'node_modules/.bin');
      execFileSync(join(bin, 'buf'), ['generate', 'protos', '--template', 'protos/buf.gen.yaml', '-o', out], {
        cwd: root,
        env: { ...process.env, PATH: `${bin}${delimiter}${process.env['PATH'] ?? ''}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const fresh = join(out, 'gen');
      const hint = 'protos/gen is stale: run `npm run generate` and commit protos/gen';
      assert.deepEqual(files(committed), files(fresh), `${hint} (the set of files differs)`);
      for (const file of files(fresh)) {
        const same = readFileSync(join(fresh, file), 'utf8') === readFileSync(join(committed, file), 'utf8');
        assert.ok(same, `${hint} (${file} differs)`);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
