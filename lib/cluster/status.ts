/** `sd-mali status`: the boards, what each runs, and each model's queue counts. */
import { Queue } from 'bullmq';
import { bullConnection, openRedis, waitConnected } from './connections.js';
import { PREFIX, queueNameOf } from './names.js';
import { redactRedisUrl } from './redis-url.js';
import { knownModels, liveWorkers, type WorkerHeartbeat } from './registry.js';

export interface QueueCounts {
  model: string;
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export interface ClusterStatus {
  redis: string;
  workers: WorkerHeartbeat[];
  queues: QueueCounts[];
}

export async function readClusterStatus(url: string, timeoutMs = 5000): Promise<ClusterStatus> {
  const errors: string[] = [];
  const client = openRedis(url, 'answering', 'sd-mali-status', (m) => errors.push(m));
  try {
    await waitConnected(client, timeoutMs);
    const workers = await liveWorkers(client);
    const models = [...new Set([...(await knownModels(client)), ...workers.map((w) => w.model)])].sort();
    const queues: QueueCounts[] = [];
    for (const model of models) {
      const name = queueNameOf(model);
      const queue = new Queue(name, { connection: bullConnection(url, 'answering', 'sd-mali-status:queue'), prefix: PREFIX });
      try {
        const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
        queues.push({ model, queue: name, waiting: (c['waiting'] ?? 0) + (c['prioritized'] ?? 0), active: c['active'] ?? 0, delayed: c['delayed'] ?? 0, completed: c['completed'] ?? 0, failed: c['failed'] ?? 0 });
      } finally {
        await queue.close();
      }
    }
    return { redis: redactRedisUrl(url), workers, queues };
  } finally {
    client.disconnect();
  }
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

export function formatClusterStatus(s: ClusterStatus, now = Date.now()): string {
  const lines = [`Redis ${s.redis}`, ''];
  if (s.workers.length === 0) lines.push('no live workers');
  else {
    const rows = [['WORKER', 'MODEL', 'STATE', 'JOB', 'STEP', 'DONE', 'FAILED', 'CANCELLED', 'HOST', 'UP']];
    for (const w of s.workers) {
      const job = w.job ? `${w.job.id}${w.job.count > 1 ? ` (image ${w.job.image + 1}/${w.job.count})` : ''}` : '-';
      const step = w.job ? `${w.job.step}/${w.job.steps}` : '-';
      rows.push([w.name, w.model, w.state, job, step, String(w.completed), String(w.failed), String(w.cancelled), `${w.host}:${w.pid}`, ago(now - w.startedAt)]);
    }
    lines.push(table(rows));
  }
  lines.push('');
  if (s.queues.length === 0) lines.push('no queues yet');
  else {
    const rows = [['MODEL', 'WAITING', 'ACTIVE', 'DELAYED', 'COMPLETED', 'FAILED']];
    for (const q of s.queues) rows.push([q.model, String(q.waiting), String(q.active), String(q.delayed), String(q.completed), String(q.failed)]);
    lines.push(table(rows));
  }
  return lines.join('\n');
}
