/**
 * Entry of an erasure-codec worker thread (erasure/codec-threads.ts): runs each job on the codec it
 * names, in this thread, on the shards where the job says they are, and answers when done.
 */
import { parentPort } from 'node:worker_threads';
import type { CodecJob, CodecJobResult } from './codec-jobs.js';
import { codecById } from './reed-solomon.js';

async function run(job: CodecJob): Promise<void> {
  const codec = codecById(job.codecId);
  const shards = job.offsets.map((offset) => new Uint8Array(job.buffer, offset, job.shardBytes));
  if (job.op === 'encode') await codec.encodeParity(shards.slice(0, job.dataShards), shards.slice(job.dataShards));
  else await codec.reconstructData(shards, job.present ?? [], job.dataShards);
}

const port = parentPort;
if (port === null) throw new Error('codec-worker runs as a worker thread only');
port.on('message', (job: CodecJob) => {
  run(job).then(
    () => {
      if (job.buffer instanceof ArrayBuffer) port.postMessage({ jobId: job.jobId, buffer: job.buffer } satisfies CodecJobResult, [job.buffer]);
      else port.postMessage({ jobId: job.jobId } satisfies CodecJobResult);
    },
    (error: unknown) => {
      const failure = error instanceof Error ? error : new Error(String(error));
      const code = (failure as { code?: unknown }).code;
      port.postMessage({ jobId: job.jobId, error: { message: failure.message, code: typeof code === 'string' ? code : undefined } } satisfies CodecJobResult);
    },
  );
});
