#!/usr/bin/env node
/**
 * The sd-mali command line. Each command registers itself from its own file; this one only
 * makes the program and prints what a known error says (its remedy included), not a stack.
 */
import { Command } from 'commander';
import { SdMaliError } from '../errors.js';
import { packageVersion } from '../package-version.js';
import { registerBuildCommand } from './build-command.js';
import { registerCacheCommand } from './cache-command.js';
import { registerDoctorCommand } from './doctor-command.js';
import { registerGenerateCommand } from './generate-command.js';
import { registerInfoCommand } from './info-command.js';
import { OutputExistsError } from './output-file.js';
import { registerServeCommand } from './serve-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerWorkerCommand } from './worker-command.js';

const program = new Command()
  .name('sd-mali')
  .description('Stable Diffusion 1.5 on TVM-compiled models (the Mali GPU of RK3588 boards, or any OpenCL device)')
  .version(packageVersion())
  .showHelpAfterError('(run with --help for usage)');

for (const register of [
  registerGenerateCommand,
  registerDoctorCommand,
  registerCacheCommand,
  registerInfoCommand,
  registerBuildCommand,
  registerServeCommand,
  registerWorkerCommand,
  registerStatusCommand,
]) {
  register(program);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const known = err instanceof SdMaliError || err instanceof OutputExistsError;
  process.stderr.write(`sd-mali: ${known ? (err as Error).message : ((err as Error).stack ?? String(err))}\n`);
  process.exitCode = 1;
}
