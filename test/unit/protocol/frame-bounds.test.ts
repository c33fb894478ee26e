/**
 * A frame's header is checked against the range it answers before anything is allocated for its
 * payload (issue 11: a node's frame claiming 4 GiB for a KiB range made the client allocate
 * 1.1 GiB). A broken promise is GRN_UNAVAILABLE: the reader reads around the node.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FRAME_HEADER_BYTES, FRAME_MESSAGE_BYTES_MAX, FRAME_STATUS, type Frame, FrameDecoder, encodeFrameHeader } from '../../../protocol/batch-read.js';
import { BATCH_READ_DEADLINE_DEFAULTS, batchReadDeadlineMs } from '../../../protocol/http-pools.js';

const ASKED_BYTES = 1024;
const CLAIMED_BYTES = 0xffff_fff0;

/** A header claiming `payloadBytes`, whatever follows it. */
function lyingHeader(status: number, payloadBytes: number): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt8(status, 0);
  header.writeUInt32LE(payloadBytes, 4);
  return header;
}

/** Pushes `pieces` through a decoder for ranges of `lengths`; the frames decoded and the error, if any. */
function decode(lengths: readonly number[], pieces: readonly Buffer[]): { frames: Frame[]; error: unknown } {
  const decoder = new FrameDecoder(lengths, 'http://rogue.invalid');
  const frames: Frame[] = [];
  try {
    for (const piece of pieces) decoder.push(piece, (frame) => frames.push(frame));
    decoder.end();
    return { frames, error: undefined };
  } catch (error) {
    return { frames, error };
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('frame bounds', () => {
  it('refuses an ok frame claiming 4 GiB for a KiB range before allocating, however the header is cut', () => {
    const allocations: number[] = [];
    const allocUnsafe = Buffer.allocUnsafe.bind(Buffer);
    vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((size: number) => {
      allocations.push(size);
      return allocUnsafe(size);
    });
    const stream = Buffer.concat([lyingHeader(FRAME_STATUS.ok, CLAIMED_BYTES), Buffer.alloc(100, 7)]);
    for (let cut = 1; cut <= stream.length; cut += 7) {
      const { frames, error } = decode([ASKED_BYTES], [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(frames).toEqual([]);
      expect(error, `cut at ${cut}`).toMatchObject({
        code: 'GRN_UNAVAILABLE',
        message: expect.stringContaining(`http://rogue.invalid answered frame 0 with ${CLAIMED_BYTES} bytes for a range of ${ASKED_BYTES} bytes`),
      });
    }
    expect(Math.max(0, ...allocations)).toBeLessThanOrEqual(ASKED_BYTES);
  });

  it('refuses an ok frame shorter than its range, an overlong message, an unknown status and a frame past the last range', () => {
    const short = Buffer.alloc(ASKED_BYTES - 1);
    expect(decode([ASKED_BYTES], [encodeFrameHeader('ok', short, false), short]).error).toMatchObject({ code: 'GRN_UNAVAILABLE', message: /with 1023 bytes for a range of 1024/ });
    const long = lyingHeader(FRAME_STATUS.missing, FRAME_MESSAGE_BYTES_MAX + 1);
    expect(decode([ASKED_BYTES], [long]).error).toMatchObject({ code: 'GRN_UNAVAILABLE', message: /'missing' with a message of 4097 bytes/ });
    expect(decode([ASKED_BYTES], [lyingHeader(9, 0)]).error).toMatchObject({ code: 'GRN_UNAVAILABLE', message: /unknown status 9/ });
    const empty = Buffer.alloc(0);
    const twoFrames = Buffer.concat([encodeFrameHeader('ok', empty, false), encodeFrameHeader('ok', empty, false)]);
    expect(decode([0], [twoFrames]).error).toMatchObject({ code: 'GRN_UNAVAILABLE', message: /answered frame 1 of a batch of 1 ranges/ });
  });

  it('accepts exactly what was asked: ok frames of their range lengths, and short messages for the others', () => {
    const payload = Buffer.alloc(ASKED_BYTES, 3);
    const message = Buffer.from('chunk blk.1 is not on this node');
    const stream = Buffer.concat([encodeFrameHeader('ok', payload, true), payload, encodeFrameHeader('missing', message, false), message]);
    const { frames, error } = decode([ASKED_BYTES, 77], [stream.subarray(0, 20), stream.subarray(20)]);
    expect(error).toBeUndefined();
    expect(frames.map((frame) => frame.status)).toEqual(['ok', 'missing']);
    expect(Buffer.from(frames[0]?.data as Uint8Array).equals(payload)).toBe(true);
    expect(frames[1]?.message).toBe('chunk blk.1 is not on this node');
  });

  it('gives a batched read a deadline from the bytes it asks, never under the floor', () => {
    expect(batchReadDeadlineMs(1024)).toBe(BATCH_READ_DEADLINE_DEFAULTS.floorMs);
    expect(batchReadDeadlineMs(64 * 1_000_000)).toBe(64_000);
    expect(batchReadDeadlineMs(5_000, { floorMs: 100, bytesPerSecondMin: 1_000 })).toBe(5_000);
  });
});
