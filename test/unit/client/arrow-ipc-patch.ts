/**
 * Rewrites the numbers an Arrow IPC stream or file states about its record batches, in place,
 * to make files that lie (a batch claiming more rows than its buffers hold, offsets that go down,
 * a null count the bitmap does not back). apache-arrow writes only honest files, so the tests
 * write one and then patch the flatbuffer message headers (Message.fbs, Schema.fbs) and the bodies.
 */

/** One record batch message of an IPC stream or file, open for patching. */
export interface BatchPatch {
  /** Which record batch this is (0 = first; dictionary batches are not counted). */
  readonly index: number;
  /** Whether it is a dictionary batch (its record batch is the dictionary's values). */
  readonly dictionary: boolean;
  /** Rows the batch claims. */
  length: bigint;
  /** Per field node (depth first over the schema's fields): its length and null count. */
  readonly nodes: readonly { length: bigint; nullCount: bigint }[];
  /** Per buffer (in the order the format lays them out): its offset and length in the body. */
  readonly buffers: readonly { offset: bigint; length: bigint }[];
  /** The message body (writes go to the file bytes). */
  readonly body: Uint8Array;
}

const CONTINUATION = 0xffffffff;
const HEADER_DICTIONARY_BATCH = 2;
const HEADER_RECORD_BATCH = 3;

/** Calls `patch` for every record batch (and dictionary batch) message; changes are written back. */
export function patchIpc(bytes: Uint8Array, patch: (batch: BatchPatch) => void): Uint8Array {
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const isFile = Buffer.from(out.subarray(0, 6)).toString('latin1') === 'ARROW1';
  let at = isFile ? 8 : 0;
  let recordBatches = 0;
  while (at + 8 <= out.length) {
    if (view.getUint32(at, true) !== CONTINUATION) break;
    const metaLength = view.getInt32(at + 4, true);
    if (metaLength === 0) break;
    const meta = at + 8;
    const message = table(view, meta + view.getUint32(meta, true));
    const headerType = message.field(1) === 0 ? 0 : view.getUint8(message.field(1));
    const bodyLength = message.field(3) === 0 ? 0 : Number(view.getBigInt64(message.field(3), true));
    const bodyStart = meta + metaLength;
    if (headerType === HEADER_RECORD_BATCH || headerType === HEADER_DICTIONARY_BATCH) {
      const header = table(view, message.offsetField(2));
      const batch = headerType === HEADER_RECORD_BATCH ? header : table(view, header.offsetField(1));
      const lengthAt = batch.field(0);
      const nodesAt = vector(view, batch.offsetField(1));
      const buffersAt = vector(view, batch.offsetField(2));
      const state: BatchPatch = {
        index: headerType === HEADER_RECORD_BATCH ? recordBatches++ : -1,
        dictionary: headerType === HEADER_DICTIONARY_BATCH,
        length: lengthAt === 0 ? 0n : view.getBigInt64(lengthAt, true),
        nodes: Array.from({ length: nodesAt.count }, (_, i) => ({
          length: view.getBigInt64(nodesAt.start + 16 * i, true),
          nullCount: view.getBigInt64(nodesAt.start + 16 * i + 8, true),
        })),
        buffers: Array.from({ length: buffersAt.count }, (_, i) => ({
          offset: view.getBigInt64(buffersAt.start + 16 * i, true),
          length: view.getBigInt64(buffersAt.start + 16 * i + 8, true),
        })),
        body: out.subarray(bodyStart, bodyStart + bodyLength),
      };
      patch(state);
      if (lengthAt === 0 && state.length !== 0n) throw new Error('the batch length field is absent (0 rows): cannot patch it');
      if (lengthAt !== 0) view.setBigInt64(lengthAt, state.length, true);
      state.nodes.forEach((node, i) => {
        view.setBigInt64(nodesAt.start + 16 * i, node.length, true);
        view.setBigInt64(nodesAt.start + 16 * i + 8, node.nullCount, true);
      });
      state.buffers.forEach((buffer, i) => {
        view.setBigInt64(buffersAt.start + 16 * i, buffer.offset, true);
        view.setBigInt64(buffersAt.start + 16 * i + 8, buffer.length, true);
      });
    }
    at = bodyStart + bodyLength;
  }
  return out;
}

/** A flatbuffer table at `position`: where its fields are (0 when absent). */
function table(view: DataView, position: number): { field(slot: number): number; offsetField(slot: number): number } {
  const vtable = position - view.getInt32(position, true);
  const vtableBytes = view.getUint16(vtable, true);
  const field = (slot: number): number => {
    const entry = 4 + 2 * slot;
    if (entry >= vtableBytes) return 0;
    const offset = view.getUint16(vtable + entry, true);
    return offset === 0 ? 0 : position + offset;
  };
  return {
    field,
    offsetField(slot) {
      const at = field(slot);
      if (at === 0) throw new Error(`flatbuffer field ${slot} is absent`);
      return at + view.getUint32(at, true);
    },
  };
}

function vector(view: DataView, position: number): { count: number; start: number } {
  return { count: view.getUint32(position, true), start: position + 4 };
}

/** One block of an Arrow IPC file's footer: where a message starts and how long it is. */
export interface FooterBlock {
  offset: bigint;
  metaDataLength: number;
  bodyLength: bigint;
}

/**
 * Calls `patch` with the record batch blocks and the dictionary blocks of an IPC file's footer;
 * changes to the record batch blocks are written back.
 */
export function patchFooter(bytes: Uint8Array, patch: (recordBatches: FooterBlock[], dictionaries: readonly FooterBlock[]) => void): Uint8Array {
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const footerLength = view.getInt32(out.length - 10, true);
  const start = out.length - 10 - footerLength;
  const footer = table(view, start + view.getUint32(start, true));
  const readBlocks = (slot: number): { blocks: FooterBlock[]; start: number } => {
    if (footer.field(slot) === 0) return { blocks: [], start: 0 };
    const at = vector(view, footer.offsetField(slot));
    const blocks = Array.from({ length: at.count }, (_, i) => ({
      offset: view.getBigInt64(at.start + 24 * i, true),
      metaDataLength: view.getInt32(at.start + 24 * i + 8, true),
      bodyLength: view.getBigInt64(at.start + 24 * i + 16, true),
    }));
    return { blocks, start: at.start };
  };
  const recordBatches = readBlocks(3);
  patch(recordBatches.blocks, readBlocks(2).blocks);
  recordBatches.blocks.forEach((block, i) => {
    view.setBigInt64(recordBatches.start + 24 * i, block.offset, true);
    view.setInt32(recordBatches.start + 24 * i + 8, block.metaDataLength, true);
    view.setBigInt64(recordBatches.start + 24 * i + 16, block.bodyLength, true);
  });
  return out;
}
