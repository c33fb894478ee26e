/**
 * Batched range reads: one request names many ranges of many chunks, one response carries them
 * all. This is what makes reading a few columns of many stripes cheap: hundreds of small stream
 * reads cost one round trip.
 *
 * Request (`POST /v1/chunks/read`, `application/msgpack` or `application/json`):
 *   `{ ranges: [{ chunk, offset, length }, ...], checksums?: boolean, verifyPages?: boolean }`
 *
 * Response (`application/x-granary-frames`): one frame per requested range, in request order,
 * streamed as each range is read:
 *
 *   | status u8 | flags u8 | reserved u16 | payloadBytes u32 LE | payloadXxh64 u64 LE | payload |
 *
 * The payload is the range's bytes when the status is `ok`, else a UTF-8 message. Bytes on disk
 * are verified against their page checksums before they are sent (a damaged page is reported as
 * `corrupt`, never sent) unless the request sets `verifyPages: false`: the client does for its
 * first read of every stream, because it checks each stream against the writer's checksum anyway
 * (a mismatch is rebuilt from parity read with page checks on). The payload checksum is computed only when the request
 * asks for `checksums` (flag bit 0 says it is present): readers that verify their own end-to-end
 * checksums (the client verifies every column stream) skip it, since it would hash every byte
 * twice more; they ask for it when an end-to-end check fails and they need to know which node's
 * answer was damaged in transit.
 */
import { xxh64 } from '../erasure/index.js';
import { GranaryError } from './errors.js';

export interface RangeRequest {
  readonly chunk: string;
  readonly offset: number;
  readonly length: number;
}

export interface BatchReadRequest {
  readonly ranges: readonly RangeRequest[];
  /** Ask for a checksum of every payload (default false). */
  readonly checksums?: boolean;
  /**
   * Check the page checksums of every page a range touches before answering (default true).
   * A reader that verifies the bytes end to end (the client checks every stream against its
   * writer's checksum) turns this off: the node then reads just the ranges and hashes nothing,
   * as an HDFS DataNode leaves checksum verification to its client.
   */
  readonly verifyPages?: boolean;
  /** Read capabilities covering every range's block (protocol/capability.ts), one per block. */
  readonly capabilities?: readonly string[];
  /** The reading job (JOB_ID_PATTERN), for the node's per-job counts (protocol/job-types.ts). */
  readonly job?: string;
}

/** Bounds a node enforces on one batch request. */
export const BATCH_RANGES_MAX = 8192;
export const BATCH_RANGE_BYTES_MAX = 256 * 1024 * 1024;
export const BATCH_TOTAL_BYTES_MAX = 1024 * 1024 * 1024;

export const FRAME_HEADER_BYTES = 16;
/**
 * A frame's reason for not returning a range is at most this long: nodes cut theirs to it, and
 * readers refuse a longer one before allocating for it.
 */
export const FRAME_MESSAGE_BYTES_MAX = 4096;
export const FRAMES_CONTENT_TYPE = 'application/x-granary-frames';

/** The outcome of one range, a closed set. */
export const FRAME_STATUS = {
  /** The payload is the range's bytes, verified against the chunk's page checksums (unless the request turned that off). */
  ok: 0,
  /** The node holds no chunk with that id. */
  missing: 1,
  /** A page the range touches failed its checksum on disk; read the range from other shards. */
  corrupt: 2,
  /** The range runs past the end of the chunk. */
  out_of_range: 3,
  /** The node could not read the range for another reason (the message says which). */
  error: 4,
} as const;

export type FrameStatus = keyof typeof FRAME_STATUS;
const STATUS_BY_NUMBER = new Map<number, FrameStatus>(
  Object.entries(FRAME_STATUS).map(([name, value]) => [value, name as FrameStatus]),
);

export interface Frame {
  readonly status: FrameStatus;
  /** The range's bytes for `ok`; empty otherwise. */
  readonly data: Uint8Array;
  /** Why the range was not returned; empty for `ok`. */
  readonly message: string;
}

const FLAG_CHECKSUM = 1;

export function encodeFrameHeader(status: FrameStatus, payload: Uint8Array, withChecksum: boolean): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt8(FRAME_STATUS[status], 0);
  header.writeUInt8(withChecksum ? FLAG_CHECKSUM : 0, 1);
  header.writeUInt16LE(0, 2);
  header.writeUInt32LE(payload.length, 4);
  header.writeBigUInt64LE(withChecksum ? xxh64(payload) : 0n, 8);
  return header;
}

/** Total bytes a batch asks for; checks each range's bounds. */
export function validateBatchRequest(request: BatchReadRequest): number {
  if (request.ranges.length > BATCH_RANGES_MAX) {
    throw new GranaryError('GRN_BAD_REQUEST', `a batch holds at most ${BATCH_RANGES_MAX} ranges, got ${request.ranges.length}; split it`);
  }
  let total = 0;
  for (const range of request.ranges) {
    if (range.length > BATCH_RANGE_BYTES_MAX) {
      throw new GranaryError('GRN_BAD_REQUEST', `a range is at most ${BATCH_RANGE_BYTES_MAX} bytes, got ${range.length}`);
    }
    total += range.length;
  }
  if (total > BATCH_TOTAL_BYTES_MAX) {
    throw new GranaryError('GRN_BAD_REQUEST', `a batch reads at most ${BATCH_TOTAL_BYTES_MAX} bytes, got ${total}; split it`);
  }
  return total;
}

/**
 * Decodes frames from body pieces as they arrive, however the pieces cut the frames, verifying
 * each payload's checksum when one was sent (a mismatch, damage in transit, is returned as
 * `corrupt`). A payload that lies whole in one piece is a view of it; one split over pieces is
 * copied once into a buffer of its exact size (never a growing concatenation of everything pending).
 *
 * A frame's header is checked before anything is allocated for its payload: an `ok` frame must
 * carry exactly the bytes its range asked for (`rangeLengths`, when given; else at most
 * BATCH_RANGE_BYTES_MAX), any other at most FRAME_MESSAGE_BYTES_MAX of message, and there are no
 * more frames than ranges. A node that breaks this is not trusted for the rest of its answer
 * (GRN_UNAVAILABLE, read around it as around a dead node): a header claiming 4 GiB for a KiB range
 * must cost nothing.
 */
export class FrameDecoder {
  private readonly header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private payload: Buffer | undefined;
  private payloadFill = 0;
  /** Frames whose header has been read. */
  private frames = 0;

  constructor(
    private readonly rangeLengths?: readonly number[],
    /** Names the node in errors. */
    private readonly source = 'the node',
  ) {}

  /** Decodes what `piece` completes; calls `onFrame` for each frame in order. */
  push(piece: Uint8Array, onFrame: (frame: Frame) => void): void {
    const bytes = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.length);
    let at = 0;
    while (at < bytes.length) {
      if (this.payload !== undefined) {
        const take = Math.min(this.payload.length - this.payloadFill, bytes.length - at);
        bytes.copy(this.payload, this.payloadFill, at, at + take);
        this.payloadFill += take;
        at += take;
        if (this.payloadFill === this.payload.length) {
          onFrame(decodeFrame(this.header, this.payload));
          this.payload = undefined;
          this.headerFill = 0;
        }
        continue;
      }
      let header: Buffer;
      if (this.headerFill === 0 && bytes.length - at >= FRAME_HEADER_BYTES) {
        header = bytes.subarray(at, at + FRAME_HEADER_BYTES);
        at += FRAME_HEADER_BYTES;
      } else {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, bytes.length - at);
        bytes.copy(this.header, this.headerFill, at, at + take);
        this.headerFill += take;
        at += take;
        if (this.headerFill < FRAME_HEADER_BYTES) return;
        header = this.header;
      }
      const payloadBytes = this.checkHeader(header);
      if (bytes.length - at >= payloadBytes) {
        onFrame(decodeFrame(header, bytes.subarray(at, at + payloadBytes)));
        at += payloadBytes;
        this.headerFill = 0;
        continue;
      }
      if (header !== this.header) header.copy(this.header);
      this.headerFill = FRAME_HEADER_BYTES;
      this.payload = Buffer.allocUnsafe(payloadBytes);
      this.payloadFill = 0;
    }
  }

  /** The payload length the header declares, once it is known to be what was asked for. */
  private checkHeader(header: Buffer): number {
    const index = this.frames++;
    const payloadBytes = header.readUInt32LE(4);
    const status = STATUS_BY_NUMBER.get(header.readUInt8(0));
    const untrusted = (problem: string): GranaryError =>
      new GranaryError('GRN_UNAVAILABLE', `${this.source} answered frame ${index} ${problem}; the rest of its answer is not trusted, read around it`);
    if (this.rangeLengths !== undefined && index >= this.rangeLengths.length) {
      throw untrusted(`of a batch of ${this.rangeLengths.length} ranges`);
    }
    if (status === undefined) throw untrusted(`with unknown status ${header.readUInt8(0)}`);
    if (status === 'ok') {
      const asked = this.rangeLengths?.[index];
      if (asked === undefined ? payloadBytes > BATCH_RANGE_BYTES_MAX : payloadBytes !== asked) {
        throw untrusted(`with ${payloadBytes} bytes for a range of ${asked ?? `at most ${BATCH_RANGE_BYTES_MAX}`} bytes`);
      }
    } else if (payloadBytes > FRAME_MESSAGE_BYTES_MAX) {
      throw untrusted(`'${status}' with a message of ${payloadBytes} bytes (at most ${FRAME_MESSAGE_BYTES_MAX})`);
    }
    return payloadBytes;
  }

  /** Throws when the body ended inside a frame. */
  end(): void {
    if (this.headerFill > 0 || this.payload !== undefined) {
      throw new GranaryError('GRN_UNAVAILABLE', 'the batch read response ended in the middle of a frame; the node closed the connection early');
    }
  }
}

/** Frames of a body; `rangeLengths`, the lengths asked, bound what each frame may claim (FrameDecoder). */
export async function* readFrames(body: AsyncIterable<Uint8Array>, rangeLengths?: readonly number[]): AsyncGenerator<Frame> {
  const decoder = new FrameDecoder(rangeLengths);
  const ready: Frame[] = [];
  const collect = (frame: Frame): void => {
    ready.push(frame);
  };
  for await (const piece of body) {
    decoder.push(piece, collect);
    yield* ready.splice(0);
  }
  decoder.end();
}

/** Decodes a frame whose header FrameDecoder.checkHeader accepted. */
function decodeFrame(header: Buffer, payload: Buffer): Frame {
  const status = STATUS_BY_NUMBER.get(header.readUInt8(0)) as FrameStatus;
  if ((header.readUInt8(1) & FLAG_CHECKSUM) !== 0 && xxh64(payload) !== header.readBigUInt64LE(8)) {
    return { status: 'corrupt', data: new Uint8Array(0), message: 'range payload failed its checksum in transit' };
  }
  return status === 'ok'
    ? { status, data: payload, message: '' }
    : { status, data: new Uint8Array(0), message: payload.toString('utf8') };
}
