/** sd-mali's cluster: many boards behind one API, jobs over BullMQ on Redis. */
export { ClusterWorker, type ClusterWorkerOptions } from './cluster-worker.js';
export { RemoteBackend, type RemoteBackendOptions } from './remote-backend.js';
export { readClusterStatus, formatClusterStatus, type ClusterStatus, type QueueCounts } from './status.js';
export { type WorkerHeartbeat, type CurrentJob } from './registry.js';
export { type ClusterJobData, type ClusterJobResult, type ClusterImage, type ClusterProgress, parseJobData } from './job-payload.js';
export { modelNameOf, queueNameOf } from './names.js';
export { checkRedisUrl, redactRedisUrl } from './redis-url.js';
