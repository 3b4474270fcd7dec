import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import ts from 'typescript';

const ENTRY_POINTS = ['index.ts', 'engines/moby/index.ts', 'engines/containerd/index.ts', 'engines/cri/index.ts', 'lib/testing/index.ts'];

/** Every symbol that a public entry point exports, with the file that declares it. */
function publicExports(): { name: string; entry: string; decl: ts.Declaration }[] {
  const program = ts.createProgram(ENTRY_POINTS, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const found: { name: string; entry: string; decl: ts.Declaration }[] = [];
  for (const entry of ENTRY_POINTS) {
    const source = program.getSourceFile(entry);
    const module = source && checker.getSymbolAtLocation(source);
    if (!module) throw new Error(`cannot read ${entry}`);
    for (let symbol of checker.getExportsOfModule(module)) {
      const name = symbol.getName();
      if (symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
      const decl = symbol.getDeclarations()?.[0];
      if (decl && !decl.getSourceFile().fileName.includes('node_modules')) found.push({ name, entry, decl });
    }
  }
  return found;
}

describe('public API documentation', function () {
  this.timeout(60_000);

  it('gives every export a TSDoc comment, and functions and classes an example', () => {
    const exports = publicExports();
    expect(exports.length).to.be.greaterThan(20);
    const undocumented = exports
      .filter(({ decl }) => {
        const host = ts.isVariableDeclaration(decl) ? decl.parent.parent : decl;
        const docs = ts.getJSDocCommentsAndTags(host);
        const wantsExample = ts.isFunctionDeclaration(decl) || ts.isClassDeclaration(decl);
        const hasExample = ts.getJSDocTags(host).some((t) => t.tagName.text === 'example');
        return !docs.some((d) => ts.isJSDoc(d) && d.comment) || (wantsExample && !hasExample);
      })
      .map(({ name, entry, decl }) => `${name} (from ${entry}, declared in ${decl.getSourceFile().fileName})`);
    expect(undocumented, `exports without a TSDoc comment (or, for functions and classes, an @example):\n${undocumented.join('\n')}`).to.deep.equal([]);
  });

  it("lists in the README's table exactly what each entry point exports", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Everything exported'));
    const listed = new Map<string, string[]>();
    for (const row of section.slice(0, section.indexOf('\n\n', section.indexOf('| import from'))).split('\n')) {
      const cells = row.split('|').slice(1, -1);
      const from = /^ `(whalewatcher[^`]*)` $/.exec(cells[0] ?? '')?.[1];
      if (!from) continue;
      listed.set(ENTRY_OF[from]!, cells.slice(1).flatMap((c) => [...c.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)).sort());
    }
    const exported = new Map<string, string[]>();
    for (const { name, entry } of publicExports()) exported.set(entry, [...(exported.get(entry) ?? []), name]);
    for (const entry of ENTRY_POINTS) {
      expect(listed.get(entry), `README row for ${entry}`).to.deep.equal([...(exported.get(entry) ?? [])].sort());
    }
  });
});

const ENTRY_OF: Record<string, string> = {
  whalewatcher: 'index.ts',
  'whalewatcher/moby': 'engines/moby/index.ts',
  'whalewatcher/containerd': 'engines/containerd/index.ts',
  'whalewatcher/cri': 'engines/cri/index.ts',
  'whalewatcher/testing': 'lib/testing/index.ts',
};
