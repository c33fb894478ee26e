/**
 * Exact-length reads from a stream of byte chunks of any size, holding no more than the chunks
 * that cover the read in progress: what lets a restore walk a backup of any size frame by frame.
 */
export class ByteReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  /** Chunks not fully read yet, from `head` on (an index, so dropping one is O(1)). */
  private chunks: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  private ended = false;
  /** Bytes handed out so far: the file offset of the next read, for error messages. */
  offset = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** The next `length` bytes as a buffer of their own, or undefined when the stream ends first (the bytes left are dropped). */
  async read(length: number): Promise<Buffer | undefined> {
    while (this.buffered < length) {
      if (!(await this.pull())) return undefined;
    }
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.chunks[this.head] as Buffer;
      const used = Math.min(chunk.length, length - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.head++;
      else this.chunks[this.head] = chunk.subarray(used);
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    this.buffered -= length;
    this.offset += length;
    return out;
  }

  /** Bytes the stream still holds beyond what was read: 0 means it has ended. */
  async remaining(): Promise<number> {
    while (this.buffered === 0 && (await this.pull()));
    return this.buffered;
  }

  /** Stops reading the source (closes a file stream left half read). */
  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      await this.iterator.return?.();
    }
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done === true) {
      this.ended = true;
      return false;
    }
    if (!(next.value instanceof Uint8Array)) throw new TypeError('a backup is read as bytes: the stream must have no text encoding set');
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return true;
  }
}
