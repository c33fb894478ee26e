import { describe, expect, it } from 'vitest';
import { xxh64 } from '../../../erasure/index.js';
import {
  FRAME_HEADER_BYTES,
  type Frame,
  FrameDecoder,
  GranaryError,
  chunkIdOf,
  chunkIdProblem,
  encodeFrameHeader,
  errorFromAnswer,
  readFrames,
  validateBatchRequest,
} from '../../../protocol/index.js';
import { seededRandom } from '../../helpers/seeded-random.js';

async function collect(pieces: readonly Uint8Array[]): Promise<Frame[]> {
  async function* source(): AsyncGenerator<Uint8Array> {
    yield* pieces;
  }
  const frames: Frame[] = [];
  for await (const frame of readFrames(source())) frames.push(frame);
  return frames;
}

describe('batch read frames', () => {
  const payload = Buffer.from('hello, frames');

  it('round-trips frames split at any byte boundary, with and without checksums', async () => {
    for (const withChecksum of [true, false]) {
      const stream = Buffer.concat([
        encodeFrameHeader('ok', payload, withChecksum),
        payload,
        encodeFrameHeader('missing', Buffer.from('gone'), withChecksum),
        Buffer.from('gone'),
        encodeFrameHeader('ok', Buffer.alloc(0), withChecksum),
      ]);
      for (let cut = 1; cut <= stream.length; cut++) {
        const pieces = [stream.subarray(0, cut), stream.subarray(cut)];
        const frames = await collect(pieces);
        expect(frames.map((f) => f.status)).toEqual(['ok', 'missing', 'ok']);
        expect(Buffer.from(frames[0]?.data as Uint8Array).toString()).toBe('hello, frames');
        expect(frames[1]?.message).toBe('gone');
        expect(frames[2]?.data.length).toBe(0);
      }
    }
  });

  it('decodes many frames cut into pieces of any sizes, payloads exact', () => {
    const random = seededRandom(77);
    const payloads = Array.from({ length: 40 }, (_, i) => {
      const length = i % 5 === 0 ? 0 : Math.floor(random() * (i % 2 === 0 ? 300 : 70_000));
      return Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
    });
    const stream = Buffer.concat(payloads.flatMap((p) => [encodeFrameHeader('ok', p, false), p]));
    for (const maxPiece of [1, 5, 16, 17, 1000, 65_536, stream.length]) {
      const decoder = new FrameDecoder();
      const frames: Frame[] = [];
      for (let at = 0; at < stream.length; ) {
        const size = Math.max(1, Math.floor(random() * maxPiece));
        decoder.push(stream.subarray(at, at + size), (frame) => frames.push(frame));
        at += size;
      }
      decoder.end();
      expect(frames.length).toBe(payloads.length);
      frames.forEach((frame, i) => expect(Buffer.from(frame.data).equals(payloads[i] as Buffer)).toBe(true));
    }
  });

  it('reports a payload damaged in transit as corrupt when a checksum was sent', async () => {
    const damaged = Buffer.from(payload);
    damaged[3] = 0;
    expect((await collect([encodeFrameHeader('ok', payload, true), damaged]))[0]).toMatchObject({ status: 'corrupt' });
    const header = encodeFrameHeader('ok', payload, true);
    expect(header.readBigUInt64LE(8)).toBe(xxh64(payload));
    expect(encodeFrameHeader('ok', payload, false).readBigUInt64LE(8)).toBe(0n);
  });

  it('fails clearly on a response cut mid-frame', async () => {
    const whole = Buffer.concat([encodeFrameHeader('ok', payload, false), payload]);
    await expect(collect([whole.subarray(0, FRAME_HEADER_BYTES + 3)])).rejects.toThrow(/ended in the middle of a frame/);
  });

  it('bounds batch size', () => {
    expect(validateBatchRequest({ ranges: [{ chunk: 'a', offset: 0, length: 10 }, { chunk: 'b', offset: 5, length: 7 }] })).toBe(17);
    expect(() => validateBatchRequest({ ranges: Array.from({ length: 5 }, () => ({ chunk: 'a', offset: 0, length: 256 * 1024 * 1024 })) })).toThrow(
      /at most 1073741824 bytes/,
    );
  });
});

describe('chunk ids and errors', () => {
  it('accepts safe ids and explains unsafe ones', () => {
    expect(chunkIdOf('b0123abc', 4)).toBe('b0123abc.4');
    expect(chunkIdProblem('good-id_1.2')).toBeUndefined();
    expect(chunkIdProblem('../x')).toMatch(/may hold only/);
    expect(chunkIdProblem('a/b')).toMatch(/may hold only/);
    expect(chunkIdProblem('a..b')).toMatch(/must not contain/);
    expect(chunkIdProblem('A')).toMatch(/may hold only/);
    expect(chunkIdProblem('x'.repeat(129))).toMatch(/at most 128/);
    expect(chunkIdProblem(7)).toMatch(/string/);
  });

  it('rebuilds typed errors from answers', () => {
    const typed = errorFromAnswer(404, { code: 'GRN_CHUNK_NOT_FOUND', message: 'chunk x is not stored', details: { chunk: 'x' } });
    expect(typed).toBeInstanceOf(GranaryError);
    expect(typed).toMatchObject({ code: 'GRN_CHUNK_NOT_FOUND', statusCode: 404, details: { chunk: 'x' } });
    expect(errorFromAnswer(502, '<html>bad gateway</html>')).toMatchObject({ code: 'GRN_INTERNAL', message: /HTTP 502/ });
    expect(errorFromAnswer(503, undefined)).toMatchObject({ code: 'GRN_UNAVAILABLE' });
  });
});
