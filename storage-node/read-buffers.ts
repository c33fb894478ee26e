/**
 * Buffers the batch-read route reads ranges into, taken back once the socket has sent them:
 * every byte a node serves passes through one, so they are reused (erasure/spare-buffers.ts).
 */
import { SpareBuffers } from '../erasure/index.js';

/** Buffers are kept in power-of-two sizes from this up. */
const SIZE_MIN = 64 * 1024;
/** Larger reads get a buffer of their own that is not kept. */
const SIZE_MAX = 32 * 1024 * 1024;

export class ReadBufferPool {
  private readonly spare: SpareBuffers;

  /** `keepBytes`: free bytes kept for reuse at most. */
  constructor(keepBytes: number) {
    this.spare = new SpareBuffers({ keepBytes, minBytes: SIZE_MIN, maxBytes: SIZE_MAX });
  }

  /** A buffer of `bytes` (not zeroed): a view of a pooled one when the size is pooled. */
  readonly take = (bytes: number): Buffer => {
    if (bytes > SIZE_MAX || bytes < SIZE_MIN / 4) return Buffer.allocUnsafe(bytes);
    return Buffer.from(this.spare.take(bytes), 0, bytes);
  };

  /** Takes back a buffer from `take` (or any view of one); others are left to the GC. */
  give(view: Uint8Array): void {
    this.spare.give(view.buffer);
  }
}
