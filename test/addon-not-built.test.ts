// A package whose native addon was never built (no prebuilt binary for the platform, the
// install scripts held back): the library throws AddonNotBuiltError with the remedy, and
// the CLI prints that remedy, not a stack trace. The package is the built one (dist/),
// copied without build/ and prebuilds/.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, cliEnv } from './support/cli.js';
import { REPO_ROOT, sharedData } from './support/shared-data.js';

const standin = sharedData('fixtures/standin-tvm0.20', 'the stand-in model');
const REMEDY = '`npm rebuild sd-mali`';
let root = '';

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd: root, env: cliEnv(), encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('a package without its native addon', () => {
  beforeAll(() => {
    binPath(); // says to build dist/ when it is not there
    root = mkdtempSync(join(tmpdir(), 'sd-mali-no-addon-'));
    for (const file of ['package.json', 'binding.gyp']) cpSync(join(REPO_ROOT, file), join(root, file));
    cpSync(join(REPO_ROOT, 'assets'), join(root, 'assets'), { recursive: true });
    cpSync(join(REPO_ROOT, 'dist', 'lib'), join(root, 'dist', 'lib'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('the library throws AddonNotBuiltError carrying the platform and the remedy', () => {
    const script = `
      const { tvm, AddonNotBuiltError, SdMaliError } = await import('./dist/lib/index.js');
      try { tvm.loadRuntime(); console.log('loaded'); }
      catch (e) { console.log(JSON.stringify({ notBuilt: e instanceof AddonNotBuiltError, sdMali: e instanceof SdMaliError, code: e.code, platform: e.platform, remedy: e.remedy, message: e.message })); }`;
    const r = run(['--input-type=module', '-e', script]);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ notBuilt: true, sdMali: true, code: 'ADDON_NOT_BUILT', platform: `${process.platform}-${process.arch}` });
    expect(out['remedy']).toContain(REMEDY);
    expect(out['message']).toContain(`To fix: ${out['remedy'] as string}`);
  });

  it('generate prints the remedy and no stack trace; doctor names it as the failed check', ({ skip }) => {
    if (!standin.available) skip(standin.reason);
    const generate = run(['dist/lib/cli/main.js', 'generate', 'a fox', '--model', standin.path, '-o', join(root, 'fox.png')]);
    expect(generate.status).toBe(1);
    expect(generate.stderr).toMatch(/^sd-mali: sd-mali's native addon is not built for \S+ .*To fix: build it/);
    expect(generate.stderr).toContain(REMEDY);
    expect(generate.stderr).not.toMatch(/\n\s+at /);
    const doctor = run(['dist/lib/cli/main.js', 'doctor']);
    expect(doctor.status).toBe(1);
    expect(doctor.stdout).toMatch(/\[FAIL\] addon {5}the native addon is not built for \S+\n\s+-> build it with .*npm rebuild sd-mali/);
  });
});
