/**
 * Gives the event loop one turn after every test. Tests that block it (the CLI tests run the
 * binary with spawnSync) otherwise run back to back without one, and once they add up to
 * 60 s the reply to vitest's own progress call is read only after its 60 s timer has fired:
 * "[vitest-worker]: Timeout calling onTaskUpdate", failing a run whose tests all passed.
 */
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setTimeout(resolve, 0)));
