/**
 * Entry of an erasure-codec worker thread (erasure/codec-threads.ts): runs jobs on the codec named
 * in each job, in this thread, and sends the result back, transferring its buffer.
 */
import { parentPort } from 'node:worker_threads';
import type { CodecJob, CodecJobResult } from './codec-jobs.js';
import { codecById } from './reed-solomon.js';

async function run(job: CodecJob): Promise<{ readonly jobId: number; readonly buffer: ArrayBuffer }> {
  const codec = codecById(job.codecId);
  const { shardBytes, dataShards } = job;
  const shards = (count: number, buffer: ArrayBuffer) =>
    Array.from({ length: count }, (_, i) => new Uint8Array(buffer, i * shardBytes, shardBytes));
  if (job.op === 'encode') {
    const parity = new ArrayBuffer(job.parityShards * shardBytes);
    await codec.encodeParity(shards(dataShards, job.buffer), shards(job.parityShards, parity));
    return { jobId: job.jobId, buffer: parity };
  }
  await codec.reconstructData(shards(job.present.length, job.buffer), job.present, dataShards);
  return { jobId: job.jobId, buffer: job.buffer };
}

const port = parentPort;
if (port === null) throw new Error('codec-worker runs as a worker thread only');
port.on('message', (job: CodecJob) => {
  run(job).then(
    (result) => port.postMessage(result, [result.buffer]),
    (error: unknown) => {
      const failure = error instanceof Error ? error : new Error(String(error));
      const code = (failure as { code?: unknown }).code;
      port.postMessage({ jobId: job.jobId, error: { message: failure.message, code: typeof code === 'string' ? code : undefined } } satisfies CodecJobResult);
    },
  );
});
