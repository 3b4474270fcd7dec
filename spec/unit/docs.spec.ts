import { expect } from 'chai';
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

  it('gives every export of every entry point a TSDoc comment with an example', () => {
    const exports = publicExports();
    expect(exports.length).to.be.greaterThan(20);
    const undocumented = exports
      .filter(({ decl }) => {
        const host = ts.isVariableDeclaration(decl) ? decl.parent.parent : decl;
        const docs = ts.getJSDocCommentsAndTags(host);
        return !docs.some((d) => ts.isJSDoc(d) && d.comment) || !ts.getJSDocTags(host).some((t) => t.tagName.text === 'example');
      })
      .map(({ name, entry, decl }) => `${name} (from ${entry}, declared in ${decl.getSourceFile().fileName})`);
    expect(undocumented, `exports without a TSDoc comment and @example:\n${undocumented.join('\n')}`).to.deep.equal([]);
  });
});
