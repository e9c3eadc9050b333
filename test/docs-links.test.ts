// The documentation holds together: every relative link of README.md and docs/*.md reaches a
// file (and, with #anchor, a heading of it), every docs/ page the code cites exists, and the
// README stays the short entry it is meant to be (its long sections live in docs/).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/shared-data.js';

const DOCS = join(REPO_ROOT, 'docs');
const PAGES = [join(REPO_ROOT, 'README.md'), ...readdirSync(DOCS).filter((f) => f.endsWith('.md')).map((f) => join(DOCS, f))];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

/** Markdown links and images outside code blocks: [text](target). */
function linksOf(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === '__pycache__' ? [] : sourceFiles(path);
    return /\.(ts|py|md|mjs)$/.test(e.name) ? [path] : [];
  });
}

describe('the documentation', () => {
  it('README.md stays under 200 lines and links every docs/ page', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readme.split('\n').length).toBeLessThan(200);
    const linked = new Set(linksOf(join(REPO_ROOT, 'README.md')).map((l) => l.split('#')[0]));
    for (const page of readdirSync(DOCS).filter((f) => f.endsWith('.md'))) expect(linked, `README.md links docs/${page}`).toContain(`docs/${page}`);
  });

  it('every relative link and image of README.md and docs/*.md resolves, anchors included', () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      for (const link of linksOf(page)) {
        if (/^[a-z]+:/.test(link)) continue; // https:, mailto:
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const target = path === '' ? page : resolve(dirname(page), path);
        if (!existsSync(target)) {
          broken.push(`${relative(REPO_ROOT, page)}: ${link} (no such file)`);
        } else if (anchor !== undefined && statSync(target).isFile() && target.endsWith('.md') && !anchorsOf(target).has(anchor)) {
          broken.push(`${relative(REPO_ROOT, page)}: ${link} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('every docs/*.md the code and the compiler cite exists, the artifact contract among them', () => {
    const cited = new Map<string, string>();
    for (const file of [...sourceFiles(join(REPO_ROOT, 'lib')), ...sourceFiles(join(REPO_ROOT, 'compiler')), ...sourceFiles(join(REPO_ROOT, 'bench'))]) {
      for (const m of readFileSync(file, 'utf8').matchAll(/docs\/([\w-]+\.md)/g)) cited.set(m[1]!, relative(REPO_ROOT, file));
    }
    expect([...cited.keys()]).toContain('artifact-contract.md');
    for (const [page, by] of cited) expect(existsSync(join(DOCS, page)), `docs/${page}, cited by ${by}`).toBe(true);
  });
});
