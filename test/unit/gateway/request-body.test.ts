/** The gateway's JSON bodies: what a caller may send, and the 400 with a usable message for the rest. */
import { describe, expect, it } from 'vitest';
import { WORKERS_MAX, parseScanBody, parseSplitsBody } from '../../../gateway/request-body.js';
import { GranaryError } from '../../../protocol/index.js';

function refusal(parse: () => unknown): GranaryError {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(GranaryError);
    expect((error as GranaryError).code).toBe('GRN_BAD_REQUEST');
    return error as GranaryError;
  }
  throw new Error('the body was accepted');
}

describe('parseScanBody', () => {
  it('takes no body, or an empty object, as a scan of everything', () => {
    expect(parseScanBody(undefined)).toEqual({});
    expect(parseScanBody(null)).toEqual({});
    expect(parseScanBody({})).toEqual({});
  });

  it('passes columns, partition predicates, where and stripes through as the client takes them', () => {
    const body = {
      columns: ['label', 'f_1'],
      partitions: { ds: { eq: '2026-11-01' }, region: { in: ['eu', 'us'] }, hour: { gte: '03', lt: '09' } },
      where: [{ column: 'age', op: '<', value: 20 }, { column: 'weight', op: 'between', value: [1, 2.5] }, { column: 'country', op: '=', value: 'se' }],
      stripes: { from: 2, to: 9 },
    };
    expect(parseScanBody(body)).toEqual(body);
  });

  it('merges a split over the body, as client.scan(table, { ...options, ...split }) does', () => {
    const split = { partitions: { ds: { eq: '2026-11-02' } }, stripes: { from: 4, to: 8 } };
    expect(parseScanBody({ columns: ['id'], partitions: { ds: { eq: 'other' } }, split })).toEqual({ columns: ['id'], ...split });
  });

  it('refuses an unknown key by name rather than scanning everything', () => {
    expect(refusal(() => parseScanBody({ column: ['age'] })).message).toMatch(/unknown key "column".*allowed: columns/);
    expect(refusal(() => parseScanBody({ where: [{ column: 'a', op: '=', value: 1, extra: true }] })).message).toMatch(/where\[0\]: unknown key "extra"/);
    expect(refusal(() => parseScanBody({ stripes: { from: 1, upto: 2 } })).message).toMatch(/stripes: unknown key "upto"/);
    expect(refusal(() => parseScanBody({ partitions: { ds: { eq: 'a', in: ['b'] } } })).message).toMatch(/partitions\.ds: unknown key "in"/);
  });

  it('refuses values of the wrong shape, naming where', () => {
    expect(refusal(() => parseScanBody([])).message).toMatch(/request body must be a JSON object/);
    expect(refusal(() => parseScanBody('columns')).message).toMatch(/request body must be a JSON object/);
    expect(refusal(() => parseScanBody({ columns: 'label' })).message).toMatch(/columns must be an array/);
    expect(refusal(() => parseScanBody({ columns: ['label', ''] })).message).toMatch(/columns must be an array/);
    expect(refusal(() => parseScanBody({ columns: [1] })).message).toMatch(/columns must be an array/);
    expect(refusal(() => parseScanBody({ partitions: { ds: '2026' } })).message).toMatch(/partitions\.ds must be a JSON object/);
    expect(refusal(() => parseScanBody({ partitions: { ds: { eq: 5 } } })).message).toMatch(/partitions\.ds\.eq must be a string/);
    expect(refusal(() => parseScanBody({ partitions: { ds: { in: 'a' } } })).message).toMatch(/partitions\.ds\.in must be an array of strings/);
    expect(refusal(() => parseScanBody({ partitions: { ds: {} } })).message).toMatch(/partitions\.ds must be/);
    expect(refusal(() => parseScanBody({ partitions: { ds: { gt: 3 } } })).message).toMatch(/partitions\.ds\.gt must be a string/);
    expect(refusal(() => parseScanBody({ where: { column: 'a' } })).message).toMatch(/where must be an array/);
    expect(refusal(() => parseScanBody({ where: [{ column: 'a', op: 'like', value: 'x' }] })).message).toMatch(/where\[0\]\.op must be one of/);
    expect(refusal(() => parseScanBody({ where: [{ column: '', op: '=', value: 1 }] })).message).toMatch(/where\[0\]\.column/);
    expect(refusal(() => parseScanBody({ where: [{ column: 'a', op: '=', value: null }] })).message).toMatch(/where\[0\]\.value must be a number or a string/);
    expect(refusal(() => parseScanBody({ where: [{ column: 'a', op: '=', value: Number.NaN }] })).message).toMatch(/where\[0\]\.value/);
    expect(refusal(() => parseScanBody({ where: [{ column: 'a', op: 'between', value: [1] }] })).message).toMatch(/\[low, high\]/);
    expect(refusal(() => parseScanBody({ stripes: { from: -1 } })).message).toMatch(/stripes\.from must be a whole number >= 0/);
    expect(refusal(() => parseScanBody({ stripes: { to: 1.5 } })).message).toMatch(/stripes\.to must be a whole number/);
  });

  it('refuses a split that is not one element of the splits answer', () => {
    expect(refusal(() => parseScanBody({ split: { stripes: { from: 0, to: 1 } } })).message).toMatch(/split must be one element of the splits answer/);
    expect(refusal(() => parseScanBody({ split: { partitions: {}, stripes: { from: 0, to: 1 }, columns: [] } })).message).toMatch(/split: unknown key "columns"/);
    expect(refusal(() => parseScanBody({ split: { partitions: {}, stripes: { from: 'a' } } })).message).toMatch(/split\.stripes\.from/);
  });
});

describe('parseSplitsBody', () => {
  it('takes a worker count and the selection to cut', () => {
    expect(parseSplitsBody({ workers: 4 })).toEqual({ workers: 4, selection: {} });
    expect(parseSplitsBody({ workers: 2, partitions: { ds: { eq: 'a' } }, where: [{ column: 'x', op: '>', value: 1 }] })).toEqual({
      workers: 2,
      selection: { partitions: { ds: { eq: 'a' } }, where: [{ column: 'x', op: '>', value: 1 }] },
    });
  });

  it('refuses a missing, fractional, zero or huge worker count, and keys a split cannot use', () => {
    for (const workers of [undefined, 0, -1, 2.5, '4', WORKERS_MAX + 1]) {
      expect(refusal(() => parseSplitsBody({ workers })).message, String(workers)).toMatch(/workers must be a whole number from 1/);
    }
    expect(refusal(() => parseSplitsBody({ workers: 2, columns: ['a'] })).message).toMatch(/unknown key "columns"/);
    expect(refusal(() => parseSplitsBody(undefined)).message).toMatch(/request body must be a JSON object/);
  });
});
