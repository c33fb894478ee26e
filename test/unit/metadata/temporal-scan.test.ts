/**
 * The scan route with `where` on timestamp and date columns, through app.inject(): text literals
 * (RFC 3339 at any offset, YYYY-MM-DD) and integer microseconds pass the route schema and are read
 * against the column type; stripes whose stats (numbers, and decimal strings beyond 2^53) rule
 * them out are pruned and no others; a literal that is not a timestamp or date is a 400 saying why.
 */
import { unpack } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlockPlacement, ScanPlan } from '../../../protocol/index.js';
import { manifestFor } from '../../helpers/manifests.js';
import { type MetadataApp, makeMetadataApp, registerNodes } from '../../helpers/metadata-app.js';

const DAY_MICROS = 86_400_000_000;
/** 2026-11-20T00:00:00Z and its day number. */
const NOV_20_MICROS = 1_795_132_800_000_000;
const NOV_20_DAYS = 20_777;

let meta: MetadataApp;
beforeEach(async () => {
  meta = await makeMetadataApp();
  await registerNodes(meta.app, 12, 3);
});
afterEach(async () => {
  await meta.close();
});

async function call<T>(method: string, url: string, payload?: unknown): Promise<{ status: number; body: T }> {
  const response = await meta.app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }) });
  return { status: response.statusCode, body: (String(response.headers['content-type'] ?? '').includes('msgpack') ? unpack(response.rawPayload) : response.json()) as T };
}

/**
 * Stripe s of the one partition holds timestamps of day Nov 20 + s (00:00 to 23:59:59.999999)
 * and that one date; stripe 3 holds the largest int64 microseconds (a decimal string).
 */
async function setUp(): Promise<void> {
  const created = await call('POST', '/v1/tables', {
    name: 'events',
    columns: [
      { name: 'ts', type: 'timestamp' },
      { name: 'day', type: 'date' },
    ],
    partitionBy: ['ds'],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const session = await call<{ sessionId: string }>('POST', '/v1/tables/events/sessions', { partition: 'ds=2026-11-20' });
  const sessionId = session.body.sessionId;
  const block = await call<BlockPlacement>('POST', `/v1/sessions/${sessionId}/blocks`);
  const stats = (stripe: number, column: string): { min: number | string; max: number | string } => {
    if (stripe === 3) return column === 'ts' ? { min: '9223372036854775000', max: '9223372036854775807' } : { min: 2 ** 31 - 1, max: 2 ** 31 - 1 };
    if (column === 'day') return { min: NOV_20_DAYS + stripe, max: NOV_20_DAYS + stripe };
    const start = NOV_20_MICROS + stripe * DAY_MICROS;
    return { min: start, max: start + DAY_MICROS - 1 };
  };
  const commit = await call('POST', `/v1/sessions/${sessionId}/commit`, manifestFor(block.body, ['ts', 'day'], 4, 10, stats));
  expect(commit.status, JSON.stringify(commit.body)).toBe(200);
}

async function kept(where: readonly object[]): Promise<number[]> {
  const response = await call<ScanPlan>('POST', '/v1/tables/events/scan', { columns: ['ts'], where });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.stripes.map((stripe) => stripe.stripe);
}

describe('scan where on timestamps and dates', () => {
  it('prunes by text literals read against the column type, boundaries kept', async () => {
    await setUp();
    expect(await kept([{ column: 'ts', op: '>=', value: '2026-11-21T00:00:00Z' }])).toEqual([1, 2, 3]);
    expect(await kept([{ column: 'ts', op: '>=', value: '2026-11-20T23:59:59.999999Z' }])).toEqual([0, 1, 2, 3]);
    expect(await kept([{ column: 'ts', op: '<', value: '2026-11-21T05:30:00+05:30' }])).toEqual([0, 1]); // 2026-11-21T00:00Z: non-strict
    expect(await kept([{ column: 'ts', op: '=', value: '2026-11-22 12:00:00' }])).toEqual([2]);
    expect(await kept([{ column: 'ts', op: 'between', value: ['2026-11-21', '2026-11-21T23:59:59Z'] }])).toEqual([1]);
    expect(await kept([{ column: 'ts', op: '>', value: '+294247-01-10T04:00:54.775806Z' }])).toEqual([3]);
    expect(await kept([{ column: 'ts', op: '>=', value: String(NOV_20_MICROS + 2 * DAY_MICROS) }])).toEqual([2, 3]);
    expect(await kept([{ column: 'ts', op: '<', value: NOV_20_MICROS }])).toEqual([0]);
    expect(await kept([{ column: 'day', op: '=', value: '2026-11-21' }])).toEqual([1]);
    expect(await kept([{ column: 'day', op: '>=', value: '2026-11-22' }, { column: 'ts', op: '<', value: '2026-11-23' }])).toEqual([2]);
    expect(await kept([{ column: 'day', op: '<', value: NOV_20_DAYS }])).toEqual([0]); // non-strict
  });

  it('refuses a literal that is not a timestamp or date of the column, saying why', async () => {
    await setUp();
    const cases: [object, RegExp][] = [
      [{ column: 'ts', op: '>=', value: '2026-02-30T00:00:00Z' }, /where ts >=: "2026-02-30T00:00:00Z": day 30 is not 01\.\.28/],
      [{ column: 'ts', op: '>=', value: '2026-11-20T00:00:00.1234567Z' }, /rounded/],
      [{ column: 'day', op: '=', value: '2026-11-20T00:00:00Z' }, /where day =: .*expected YYYY-MM-DD/],
      [{ column: 'ts', op: '=', value: 'yesterday' }, /must match|anyOf/],
    ];
    for (const [predicate, message] of cases) {
      const response = await call<{ code: string; message: string }>('POST', '/v1/tables/events/scan', { where: [predicate] });
      expect(response.status, JSON.stringify(predicate)).toBe(400);
      expect(response.body.message).toMatch(message);
    }
  });
});
