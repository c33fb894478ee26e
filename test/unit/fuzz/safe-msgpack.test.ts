/**
 * The untrusted-input msgpack decoder: it reads everything Granary packs, exactly as msgpackr
 * does, and refuses each hostile construction fast, with a catalogue code and no echo of the value.
 */
import fc from 'fast-check';
import { Packr, pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { GranaryError, MSGPACK_LIMITS, type MsgpackLimits, decodeUntrustedMsgpack } from '../../../protocol/index.js';
import {
  EXTENSION_PIECES,
  HUGE_DECLARATIONS,
  deepArrays,
  deepMaps,
  manyEmptyMaps,
  protoKeyMsgpack,
  sharedReferenceCommitBomb,
  sharedReferenceTrailingBomb,
} from './evil-msgpack.js';

function refusal(bytes: Uint8Array, limits: Partial<MsgpackLimits> = {}): GranaryError {
  try {
    decodeUntrustedMsgpack(bytes, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(GranaryError);
    return error as GranaryError;
  }
  throw new Error(`accepted ${Buffer.from(bytes).toString('hex').slice(0, 80)}`);
}

describe('decodeUntrustedMsgpack', () => {
  it('reads what msgpackr packs, the same as msgpackr, for any JSON-like value', () => {
    fc.assert(
      // A __proto__ key is refused on purpose (below).
      fc.property(fc.jsonValue({ maxDepth: 6 }).filter((value) => !JSON.stringify(value).includes('"__proto__"')), (value) => {
        const bytes = pack(value);
        expect(decodeUntrustedMsgpack(bytes)).toEqual(unpack(bytes));
      }),
      { seed: 11, numRuns: 500 },
    );
  });

  it('reads a plan-shaped answer with binaries as Buffer views of the body (no copy)', () => {
    const streams = Buffer.alloc(64, 7);
    const body = pack({ stripes: [{ rows: 3, streams, missing: undefined }] });
    const decoded = decodeUntrustedMsgpack(body) as { stripes: { rows: number; streams: Buffer; missing?: unknown }[] };
    const stripe = decoded.stripes[0] as { rows: number; streams: Buffer; missing?: unknown };
    expect(Buffer.isBuffer(stripe.streams)).toBe(true);
    expect(stripe.streams.equals(streams)).toBe(true);
    expect(stripe.streams.buffer).toBe(body.buffer);
    expect('missing' in stripe && stripe.missing === undefined).toBe(true);
  });

  it('decodes 64-bit integers as numbers, never bigints that break arithmetic', () => {
    const bytes = Buffer.from([0xcf, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(decodeUntrustedMsgpack(bytes)).toBe(2 ** 32);
  });

  it('refuses every extension but msgpackr undefined, wherever it sits', () => {
    for (const piece of EXTENSION_PIECES) {
      for (const body of [piece, Buffer.concat([Buffer.from([0x92, 0x01]), piece]), Buffer.concat([Buffer.from([0x81, 0xa1, 0x61]), piece])]) {
        const error = refusal(body);
        expect(error.code).toBe('GRN_BAD_REQUEST');
        expect(error.message).toMatch(/extension type/);
      }
    }
  });

  it('refuses both decoding bombs in milliseconds', () => {
    for (const bomb of [sharedReferenceCommitBomb(), sharedReferenceTrailingBomb()]) {
      const started = performance.now();
      expect(refusal(bomb).code).toBe('GRN_BAD_REQUEST');
      expect(performance.now() - started).toBeLessThan(50);
    }
  });

  it('refuses trailing bytes without naming the value', () => {
    const value = { secret: 'do-not-echo-me' };
    const error = refusal(Buffer.concat([pack(value), Buffer.from([0xc0])]));
    expect(error.message).toMatch(/1 bytes follow the end of the document/);
    expect(error.message).not.toMatch(/do-not-echo-me/);
  });

  it('refuses lengths and counts larger than the bytes left before sizing anything', () => {
    for (const body of HUGE_DECLARATIONS) {
      const started = performance.now();
      const error = refusal(body);
      expect(['GRN_BAD_REQUEST', 'GRN_PAYLOAD_TOO_LARGE']).toContain(error.code);
      expect(performance.now() - started).toBeLessThan(50);
    }
  });

  it('bounds nesting, total values, and each string, binary, array and map', () => {
    expect(() => decodeUntrustedMsgpack(deepArrays(MSGPACK_LIMITS.depthMax))).not.toThrow();
    expect(refusal(deepArrays(MSGPACK_LIMITS.depthMax + 1)).code).toBe('GRN_PAYLOAD_TOO_LARGE');
    expect(refusal(deepMaps(MSGPACK_LIMITS.depthMax + 1)).code).toBe('GRN_PAYLOAD_TOO_LARGE');
    expect(refusal(deepArrays(100_000)).message).toMatch(/nesting deeper than 32/);
    expect(refusal(manyEmptyMaps(2_000_000)).message).toMatch(/elements is longer than|values in the document/);
    // Many small arrays pass every per-container bound; the total is what stops them.
    const nested = pack(new Array(2_000).fill(new Array(600).fill(0)));
    expect(refusal(nested).message).toMatch(/more than 1000000 values/);
    expect(decodeUntrustedMsgpack(nested, { itemsMax: 2_000 * 601 + 1 })).toHaveLength(2_000);
    // Empty maps cost the most heap per byte: their count is bounded on its own.
    expect(refusal(pack(new Array(150_000).fill({}))).message).toMatch(/more than 100000 arrays and maps/);
    expect(refusal(pack('x'.repeat(100)), { stringBytesMax: 99 }).code).toBe('GRN_PAYLOAD_TOO_LARGE');
    expect(refusal(pack({ k: 'x'.repeat(100) }), { stringBytesMax: 99 }).code).toBe('GRN_PAYLOAD_TOO_LARGE');
    expect(refusal(pack(Buffer.alloc(100)), { binaryBytesMax: 99 }).code).toBe('GRN_PAYLOAD_TOO_LARGE');
    expect(refusal(pack([1, 2, 3]), { arrayLengthMax: 2 }).code).toBe('GRN_PAYLOAD_TOO_LARGE');
    expect(refusal(pack({ a: 1, b: 2 }), { mapEntriesMax: 1 }).code).toBe('GRN_PAYLOAD_TOO_LARGE');
  });

  it('refuses __proto__ and non-string map keys, the unused byte 0xc1 and empty or cut bodies', () => {
    expect(refusal(protoKeyMsgpack({ name: 't' })).message).toMatch(/__proto__/);
    expect(refusal(new Packr({ mapsAsObjects: false, useRecords: false }).pack(new Map([[1, 'a']]))).message).toMatch(/not a string/);
    expect(refusal(Buffer.from([0xc1])).message).toMatch(/0xc1/);
    expect(refusal(Buffer.alloc(0)).message).toMatch(/empty/);
    const whole = pack({ files: [{ columns: ['a', 'b'] }] });
    for (let cut = 1; cut < whole.length; cut++) expect(refusal(whole.subarray(0, cut)).code).toBe('GRN_BAD_REQUEST');
  });

  it('agrees with its decoder on any bytes: what the walk passes decodes, anything else is a GranaryError', () => {
    const damaged = fc
      .tuple(fc.jsonValue({ maxDepth: 4 }), fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([value, at, byte]) => {
        const bytes = Buffer.from(pack(value));
        bytes[at % bytes.length] = byte;
        return bytes;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), damaged), (bytes) => {
        try {
          decodeUntrustedMsgpack(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(GranaryError);
          // This message means the walk passed bytes its decoder could not read.
          expect((error as Error).message).not.toMatch(/after validation/);
        }
      }),
      { seed: 11, numRuns: 5_000 },
    );
  });
});
