// The package root exports what docs/api.md lists, no more and no less: everything exported
// is bound by semver, so nothing internal may leak out and nothing documented may be missing.
// The list is read from the page itself (its "Everything `sd-mali` exports" table), and the
// exports from lib/index.ts by TypeScript's checker, types included.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as root from '../lib/index.js';
import { REPO_ROOT } from './support/shared-data.js';

const PAGE = join(REPO_ROOT, 'docs', 'api.md');
const HEADING = '## Everything `sd-mali` exports';

interface Documented {
  values: string[];
  types: string[];
}

/** The names in the first column of the table under HEADING: `Name` or `type Name`. */
function documentedExports(markdown: string): Documented {
  const start = markdown.indexOf(HEADING);
  if (start < 0) throw new Error(`${PAGE} has no "${HEADING}" section`);
  const rest = markdown.slice(start + HEADING.length);
  const section = rest.slice(0, rest.search(/\n## /) >>> 0 || rest.length);
  const out: Documented = { values: [], types: [] };
  for (const line of section.split('\n')) {
    const m = /^\| `(type )?([A-Za-z_$][\w$]*)` \|/.exec(line);
    if (m) (m[1] ? out.types : out.values).push(m[2]!);
  }
  return out;
}

/** What lib/index.ts exports, split into values and type-only names, as the compiler sees it. */
function compiledExports(): Documented {
  const file = join(REPO_ROOT, 'lib', 'index.ts');
  const config = ts.getParsedCommandLineOfConfigFile(join(REPO_ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const program = ts.createProgram([file], { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
  const out: Documented = { values: [], types: [] };
  for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
    // `export { type X }` of a class exports its type only.
    const declaration = symbol.declarations?.[0];
    const typeOnly = declaration !== undefined && ts.isExportSpecifier(declaration) && (declaration.isTypeOnly || declaration.parent.parent.isTypeOnly);
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    (!typeOnly && target.flags & ts.SymbolFlags.Value ? out.values : out.types).push(symbol.name);
  }
  return out;
}

describe('the public API', () => {
  const documented = documentedExports(readFileSync(PAGE, 'utf8'));

  it('docs/api.md lists names (the table is where this test looks)', () => {
    expect(documented.values.length).toBeGreaterThan(10);
    expect(documented.types.length).toBeGreaterThan(5);
    expect(documented.values).toContain('StableDiffusion');
  });

  it('what the package root exports at run time is exactly the documented values', () => {
    expect(Object.keys(root).sort()).toEqual([...documented.values].sort());
  });

  it('lib/index.ts exports exactly the documented values and types', () => {
    const compiled = compiledExports();
    expect(compiled.values.sort()).toEqual([...documented.values].sort());
    expect(compiled.types.sort()).toEqual([...documented.types].sort());
  }, 60_000);
});
