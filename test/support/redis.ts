/**
 * A real redis-server (Debian's package; .ci/run installs it) for one test file: its own
 * loopback port, its own folder, stopped by the test. Optionally with a password, an ACL
 * user, TLS (a CA and certificate made with openssl for 127.0.0.1) and an append-only file
 * written on every command, so a restart keeps every acknowledged job.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_CI, type Availability } from './shared-data.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

export function redisAvailability(): Availability {
  if (existsSync(REDIS_SERVER)) return { available: true, reason: '', path: REDIS_SERVER };
  const reason = `${REDIS_SERVER} not found (Debian package redis-server; .ci/run installs it)`;
  if (IN_CI) throw new Error(`CI=true but ${reason}`);
  return { available: false, reason, path: REDIS_SERVER };
}

/** A port nothing listens on now (the kernel's choice, released at once). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisOptions {
  /** requirepass: the default user's password. */
  password?: string;
  /** An ACL user with every right, for user:password URLs. */
  user?: { name: string; password: string };
  /** Listen with TLS only; the CA to trust is `caFile`. */
  tls?: boolean;
  /** appendonly with fsync on every write: a restart (even kill -9) loses nothing acknowledged. */
  durable?: boolean;
}

export interface TestRedis {
  port: number;
  dir: string;
  /** redis:// (or rediss://) URL with the credentials given. */
  url(credentials?: string): string;
  caFile: string | undefined;
  /** Stops it: SIGTERM, or SIGKILL to simulate a crash. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
  readonly running: boolean;
}

function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const cert = join(dir, 'redis.crt');
  const key = join(dir, 'redis.key');
  const csr = join(dir, 'redis.csr');
  const ext = join(dir, 'san.ext');
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { stdio: 'pipe' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=sd-mali test CA', '-keyout', caKey, '-out', ca]);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', csr]);
  spawnSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > '${ext}'`]);
  run(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert]);
  return { ca, cert, key };
}

export async function startRedis(options: RedisOptions = {}): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'sd-mali-redis-'));
  const port = await freePort();
  const certs = options.tls ? makeCertificates(dir) : undefined;
  const args = ['--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--loglevel', 'warning', '--logfile', join(dir, 'redis.log')];
  if (certs) args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', certs.cert, '--tls-key-file', certs.key, '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'no');
  else args.push('--port', String(port));
  args.push('--appendonly', options.durable ? 'yes' : 'no');
  if (options.durable) args.push('--appendfsync', 'always');
  if (options.password !== undefined) args.push('--requirepass', options.password);
  if (options.user) args.push('--user', options.user.name, 'on', `>${options.user.password}`, '~*', '&*', '+@all');
  let child: ChildProcess | undefined;

  const ping = (): boolean => {
    const cli = ['-p', String(port), '-h', '127.0.0.1'];
    if (certs) cli.push('--tls', '--cacert', certs.ca);
    if (options.password !== undefined) cli.push('--no-auth-warning', '-a', options.password);
    const r = spawnSync('redis-cli', [...cli, 'ping'], { encoding: 'utf8', timeout: 2000 });
    return r.stdout.trim() === 'PONG';
  };

  const start = async (): Promise<void> => {
    child = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!ping()) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port} (see ${join(dir, 'redis.log')})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill(signal);
    await exited;
  };

  await start();
  return {
    port,
    dir,
    caFile: certs?.ca,
    url: (credentials) => `${certs ? 'rediss' : 'redis'}://${credentials ? `${credentials}@` : ''}127.0.0.1:${port}`,
    stop,
    start,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
  };
}

/** Stops it and removes its folder. */
export async function removeRedis(redis: TestRedis | undefined): Promise<void> {
  if (!redis) return;
  await redis.stop();
  rmSync(redis.dir, { recursive: true, force: true });
}
