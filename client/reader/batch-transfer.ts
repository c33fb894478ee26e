/**
 * Arrow record batches across a thread boundary without copying their bytes: a read worker
 * describes each batch's Data tree (offsets, lengths, which buffer each typed array views) and
 * hands the ArrayBuffers themselves over in the message's transfer list; the scan's thread makes
 * the same Data over the same memory.
 *
 * A large buffer the batches mostly use (a coalesced read's payload, a decoded section) is
 * transferred whole. The bytes of small or sparsely used ones (a socket chunk a few small frames
 * sit in, Node's shared 8 KiB Buffer pool, which cannot be transferred at all) are copied into
 * one arena per group instead: moving a 64 KiB chunk for the 2 KiB the batch uses would pin the
 * rest. With `reuse`, every byte goes to the arena, and arenas come back to the worker once the
 * consumer is past their batches (see ScanOptions.reuse), so their pages are warm when refilled.
 */
import * as arrow from 'apache-arrow';
import { GranaryError } from '../../protocol/index.js';

/** Buffers at least this large, and at least half used by the batches, are transferred whole. */
export const TRANSFER_WHOLE_MIN_BYTES = 128 * 1024;

const ARRAY_KINDS = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
type ArrayKind = keyof typeof ARRAY_KINDS;
/** Any of ARRAY_KINDS, over any buffer. */
interface AnyTypedArray {
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly length: number;
}

/** A typed array by where it lies: `buffer` indexes the message's buffers (-1: empty). */
export interface ViewRef {
  readonly kind: ArrayKind;
  readonly buffer: number;
  readonly byteOffset: number;
  readonly length: number;
}

/** An arrow.Data without its type (the receiver knows the schema) and with views for arrays. */
export interface DataShape {
  readonly offset: number;
  readonly length: number;
  readonly nullCount: number;
  /** valueOffsets, values, nullBitmap, typeIds: arrow's buffer order. */
  readonly buffers: readonly (ViewRef | null)[];
  readonly variadic: readonly ViewRef[];
  readonly children: readonly DataShape[];
  readonly dictionary: readonly DataShape[] | null;
}

export interface PackedBatch {
  readonly length: number;
  readonly columns: readonly DataShape[];
}

export interface PackedBatches {
  readonly batches: readonly PackedBatch[];
  /** Transferred with the message; views index them. */
  readonly buffers: readonly ArrayBuffer[];
  /** Index in `buffers` of the arena the small pieces were copied to, -1 when none. */
  readonly arena: number;
}

/** Where an arena comes from: a recycled one of at least `bytes` (reuse), or a fresh one. */
export type ArenaSource = (bytes: number) => ArrayBuffer;

interface Source {
  readonly buffer: ArrayBufferLike;
  min: number;
  max: number;
  /** Index in the output buffers (transferred whole), or -1: copied to the arena at `arenaAt`. */
  index: number;
  arenaAt: number;
}

/**
 * Describes `batches` and picks the buffers to transfer. `copyAll`: every byte to the arena
 * (reuse; also the fallback when a buffer turns out not to be transferable).
 */
export function packBatches(batches: readonly arrow.RecordBatch[], copyAll: boolean, arenaOf: ArenaSource): PackedBatches {
  const sources = new Map<ArrayBufferLike, Source>();
  const views: AnyTypedArray[] = [];
  const note = (view: AnyTypedArray | undefined | null): void => {
    if (view === undefined || view === null || view.byteLength === 0) return;
    views.push(view);
    const end = view.byteOffset + view.byteLength;
    const source = sources.get(view.buffer);
    if (source === undefined) sources.set(view.buffer, { buffer: view.buffer, min: view.byteOffset, max: end, index: -1, arenaAt: 0 });
    else {
      source.min = Math.min(source.min, view.byteOffset);
      source.max = Math.max(source.max, end);
    }
  };
  const walk = (data: arrow.Data): void => {
    note(data.valueOffsets as AnyTypedArray | undefined);
    note(data.values as AnyTypedArray | undefined);
    note(data.nullBitmap);
    note(data.typeIds as AnyTypedArray | undefined);
    for (const view of data.variadicBuffers) note(view as AnyTypedArray);
    for (const child of data.children) walk(child);
    for (const chunk of data.dictionary?.data ?? []) walk(chunk);
  };
  for (const batch of batches) walk(batch.data);

  const buffers: ArrayBuffer[] = [];
  let arenaBytes = 0;
  for (const source of sources.values()) {
    const span = source.max - source.min;
    const whole =
      !copyAll && source.buffer instanceof ArrayBuffer && source.buffer.byteLength >= TRANSFER_WHOLE_MIN_BYTES && span * 2 >= source.buffer.byteLength;
    if (whole) {
      source.index = buffers.length;
      buffers.push(source.buffer as ArrayBuffer);
      continue;
    }
    // Same alignment modulo 8 as in the source: every typed array stays aligned to its element.
    arenaBytes += (source.min - arenaBytes) & 7;
    source.arenaAt = arenaBytes;
    arenaBytes += span;
  }
  let arena = -1;
  if (arenaBytes > 0) {
    const arenaBuffer = arenaOf(arenaBytes);
    arena = buffers.length;
    buffers.push(arenaBuffer);
    const into = new Uint8Array(arenaBuffer);
    for (const source of sources.values()) {
      if (source.index >= 0) continue;
      into.set(new Uint8Array(source.buffer, source.min, source.max - source.min), source.arenaAt);
    }
  }

  const ref = (view: AnyTypedArray | undefined | null): ViewRef | null => {
    if (view === undefined || view === null) return null;
    const kind = kindOf(view);
    if (view.byteLength === 0) return { kind, buffer: -1, byteOffset: 0, length: 0 };
    const source = sources.get(view.buffer) as Source;
    if (source.index >= 0) return { kind, buffer: source.index, byteOffset: view.byteOffset, length: view.length };
    return { kind, buffer: arena, byteOffset: source.arenaAt + view.byteOffset - source.min, length: view.length };
  };
  const shape = (data: arrow.Data): DataShape => ({
    offset: data.offset,
    length: data.length,
    nullCount: data.nullCount,
    buffers: [
      ref(data.valueOffsets as AnyTypedArray | undefined),
      ref(data.values as AnyTypedArray | undefined),
      ref(data.nullBitmap),
      ref(data.typeIds as AnyTypedArray | undefined),
    ],
    variadic: data.variadicBuffers.map((view) => ref(view as AnyTypedArray) as ViewRef),
    children: data.children.map(shape),
    dictionary: data.dictionary === undefined ? null : data.dictionary.data.map(shape),
  });
  return { batches: batches.map((batch) => ({ length: batch.numRows, columns: batch.data.children.map(shape) })), buffers, arena };
}

/** The typed array's kind by constructor (a Node Buffer is a Uint8Array). */
function kindOf(view: AnyTypedArray): ArrayKind {
  const name = (view as { constructor: { name: string } }).constructor.name;
  if (name in ARRAY_KINDS) return name as ArrayKind;
  for (const [kind, Kind] of Object.entries(ARRAY_KINDS)) if (view instanceof Kind) return kind as ArrayKind;
  throw new GranaryError('GRN_INTERNAL', `a decoded column holds a ${name}, which a read worker cannot hand over`);
}

/** The batches `packed` describes, as views of its (received) buffers, in `schema`. */
export function unpackBatches(packed: PackedBatches, schema: arrow.Schema): arrow.RecordBatch[] {
  const view = (ref: ViewRef | null): AnyTypedArray | undefined => {
    if (ref === null) return undefined;
    const Kind = ARRAY_KINDS[ref.kind];
    if (ref.buffer < 0) return new Kind(0) as AnyTypedArray;
    return new Kind(packed.buffers[ref.buffer] as ArrayBuffer, ref.byteOffset, ref.length) as AnyTypedArray;
  };
  const data = (type: arrow.DataType, shape: DataShape): arrow.Data => {
    const children = shape.children.map((child, i) => data((type.children[i] as arrow.Field).type, child));
    const dictionary =
      shape.dictionary === null ? undefined : new arrow.Vector(shape.dictionary.map((chunk) => data((type as arrow.Dictionary).dictionary, chunk)));
    const buffers = shape.buffers.map(view) as unknown as ConstructorParameters<typeof arrow.Data>[4];
    return new arrow.Data(type, shape.offset, shape.length, shape.nullCount, buffers, children, dictionary, shape.variadic.map(view) as Uint8Array[]);
  };
  const struct = new arrow.Struct(schema.fields);
  return packed.batches.map((batch) => {
    const columns = batch.columns.map((column, i) => data((schema.fields[i] as arrow.Field).type, column));
    return new arrow.RecordBatch(schema, arrow.makeData({ type: struct, length: batch.length, nullCount: 0, children: columns }));
  });
}
