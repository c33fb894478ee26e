/**
 * Per-job read accounting through the metadata API (app.inject() on a real store): readers'
 * reports and nodes' heartbeat counts summed per job, bad reports refused with nothing counted,
 * per-table Prometheus figures, and jobs kept across a restart.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobDetail, JobList, JobReadReport } from '../../../protocol/job-types.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';

let meta: MetadataApp;
beforeEach(async () => {
  meta = await makeMetadataApp();
  await registerNodes(meta.app, 9, 3);
  for (const name of ['events', 'users']) {
    const created = await meta.app.inject({ method: 'POST', url: '/v1/tables', payload: { name, columns: [{ name: 'x', type: 'double' }], ec: '6+3' } });
    expect(created.statusCode, created.payload).toBe(201);
  }
});
afterEach(async () => {
  await meta.close();
});

function report(job: string, counts: Partial<JobReadReport> = {}): JobReadReport {
  return { job, requests: 4, bytesNeeded: 4096, bytesFetched: 6144, degradedReads: 1, rebuildBytes: 1024, rows: 100, stripes: 2, readMs: 20, readSizes: [2, 1, 0, 0, 0, 0, 0, 1], scansFinished: 1, ...counts };
}

async function send(table: string, body: unknown): Promise<{ status: number; body: string }> {
  const response = await meta.app.inject({ method: 'POST', url: `/v1/tables/${table}/reads`, payload: body as object });
  return { status: response.statusCode, body: response.payload };
}

async function jobs(): Promise<JobList> {
  return (await meta.app.inject({ method: 'GET', url: '/v1/jobs' })).json<JobList>();
}

describe('per-job read accounting', () => {
  it('sums readers\' reports and nodes\' counts per job, and shows one job with its tables and histogram', async () => {
    expect((await send('events', report('ctr-v7'))).status).toBe(204);
    expect((await send('users', report('ctr-v7', { bytesNeeded: 1000, bytesFetched: 1000 }))).status).toBe(204);
    expect((await send('events', report('ranker'))).status).toBe(204);
    const heartbeat = await meta.app.inject({
      method: 'POST',
      url: '/v1/nodes/node-0/heartbeat',
      payload: { capacityBytes: 2e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0, jobs: [{ job: 'ctr-v7', requests: 3, bytesServed: 7000, cacheHits: 2, cacheBytes: 4096 }] },
    });
    expect(heartbeat.statusCode, heartbeat.payload).toBe(200);
    const list = await jobs();
    expect(list.jobs.map((j) => j.job)).toEqual(['ctr-v7', 'ranker']);
    expect(list.jobs[0]).toMatchObject({ tables: ['events', 'users'], requests: 8, bytesNeeded: 5096, bytesFetched: 7144, nodeBytesServed: 7000, cacheHits: 2, cacheBytes: 4096, scansFinished: 2 });
    expect(list.jobs[1]?.amplification).toBe(1.5);
    const detail = (await meta.app.inject({ method: 'GET', url: '/v1/jobs/ctr-v7' })).json<JobDetail>();
    expect(detail.readSizes).toEqual([4, 2, 0, 0, 0, 0, 0, 2]);
    expect(detail.readSizeBounds).toHaveLength(7);
    expect(detail.byTable.map((t) => [t.table, t.bytesNeeded])).toEqual([
      ['events', 4096],
      ['users', 1000],
    ]);
    const missing = await meta.app.inject({ method: 'GET', url: '/v1/jobs/nosuch' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'GRN_JOB_NOT_FOUND' });
    expect((await meta.app.inject({ method: 'GET', url: '/v1/jobs?limit=1' })).json<JobList>().jobs).toHaveLength(1);
  });

  it('refuses bad reports whole, counting nothing of them', async () => {
    const bad: [string, unknown][] = [
      ['events', { ...report('ctr'), readSizes: [1, 2] }],
      ['events', { ...report('ctr'), requests: -1 }],
      ['events', { ...report('ctr'), bytesNeeded: 1.5 }],
      ['events', { ...report('no spaces allowed') }],
      ['events', { ...report('ctr'), extra: 1 }],
      ['nosuch', report('ctr')],
    ];
    for (const [table, body] of bad) {
      const answer = await send(table, body);
      expect(answer.status, answer.body).toBe(table === 'nosuch' ? 404 : 400);
    }
    const beat = await meta.app.inject({
      method: 'POST',
      url: '/v1/nodes/node-0/heartbeat',
      payload: { capacityBytes: 2e12, freeBytes: 1e12, usedBytes: 0, chunkCount: 0, jobs: [{ job: 'bad job', requests: 1, bytesServed: 1, cacheHits: 0, cacheBytes: 0 }] },
    });
    expect(beat.statusCode).toBe(400);
    expect((await jobs()).jobs).toEqual([]);
  });

  it('exports reads per table (not per job) to Prometheus, and drops a dropped table\'s', async () => {
    await send('events', report('a'));
    await send('events', report('b'));
    await send('users', report('a'));
    const metrics = (await meta.app.inject({ method: 'GET', url: '/metrics' })).payload;
    expect(metrics).toMatch(/granary_table_reads\{table="events",kind="bytes_needed"\} 8192/);
    expect(metrics).toMatch(/granary_table_reads\{table="events",kind="bytes_fetched"\} 12288/);
    expect(metrics).toMatch(/granary_table_reads_by_size\{table="events",le="4096"\} 4/);
    expect(metrics).toMatch(/granary_table_reads_by_size\{table="events",le="\+Inf"\} 8/);
    expect(metrics).not.toMatch(/job="/);
    expect((await meta.app.inject({ method: 'DELETE', url: '/v1/tables/users' })).statusCode).toBe(200);
    expect((await meta.app.inject({ method: 'GET', url: '/metrics' })).payload).not.toMatch(/table="users"/);
  });

  it('keeps the jobs across a restart', async () => {
    await send('events', report('ctr-v7'));
    await meta.service.flushJobs();
    const before = (await meta.app.inject({ method: 'GET', url: '/v1/jobs/ctr-v7' })).json<JobDetail>();
    meta = await meta.reopen();
    const after = (await meta.app.inject({ method: 'GET', url: '/v1/jobs/ctr-v7' })).json<JobDetail>();
    expect(after).toEqual(before);
  });
});
