/**
 * The one way Granary decodes msgpack that came over the network.
 *
 * msgpackr's decoder trusts its input. Its extension table is process-global and honours
 * structured-clone shared references (types 0x70 and 0x69), record definitions (0x72), bundled
 * strings (0x62) and more: a few hundred bytes of shared references describe a value exponential
 * in size. A 14.5 KB commit body froze the metadata service for 57 s while schema validation
 * walked millions of shared objects; with one trailing byte, msgpackr builds its error message
 * with JSON.stringify of that value (a 523-byte batch read held a storage node at 100% CPU for
 * minutes). And nested containers of one byte each (an empty map is 1 byte, ~60 bytes of heap)
 * turn a 16 MiB body into a gigabyte.
 *
 * So every untrusted body is first walked, building nothing, against named bounds: nesting depth,
 * values and containers in total, string and binary lengths, array and map sizes, each declared
 * length against the bytes actually left; no extension but msgpackr's `undefined`; string map keys
 * only, never `__proto__`; no trailing bytes. Errors name the byte offset and the rule, never the
 * value. Only bytes that pass are decoded.
 *
 * The decoder behind the walk is `@msgpack/msgpack`, not msgpackr (which still packs everything):
 * - its extension codec belongs to the decoder, not to the process, so nothing registered
 *   elsewhere can turn an extension back on, and its own length bounds and `__proto__` refusal
 *   stand behind the walk's should the walk ever be wrong;
 * - it decodes Granary's documents as fast as msgpackr or faster. CPU time per decode on this
 *   2-core machine, Node 20, medians of 9, each decoder in its own process, two rounds
 *   (test/unit/fuzz/decode-bench.ts has the command): a 24.6 MB commit (200,000 stream entries):
 *   msgpackr 684-802 ms, `@msgpack/msgpack` 685-731 ms, the walk 45-51 ms, the whole of
 *   decodeUntrustedMsgpack 728-905 ms; a 19.7 MB scan plan (50,000 stripes): msgpackr 88-104 ms,
 *   `@msgpack/msgpack` 55-58 ms, the walk 14-15 ms, the whole 112-161 ms. Safety costs a commit
 *   ~5-15% over the old unsafe decode; a plan page is paged to far less than this.
 * - its per-container bounds alone would not do: 2,000 arrays of 600 values pass every one of
 *   them, so the walk counts values and containers over the whole document.
 * Binaries come back as views of the body (no copy), Buffers when the body is a Buffer, as
 * msgpackr's were; the plan's packed streams are read through their byteOffset
 * (protocol/scan-types.ts), and no request body Granary accepts (a commit included) holds one.
 */
import { Decoder, DecodeError, type ExtensionCodecType, type ExtData } from '@msgpack/msgpack';
import { GranaryError } from './errors.js';

/** Bounds on one decoded document. Every bound is inclusive. */
export interface MsgpackLimits {
  /** Arrays and maps nested inside each other (the top-level container is depth 1). */
  readonly depthMax: number;
  /** Values in the whole document: every array element, map key and map value, and the root. */
  readonly itemsMax: number;
  /**
   * Arrays and maps in the whole document: the values that cost most heap for their bytes (an
   * empty map is 1 byte on the wire and ~60 bytes decoded).
   */
  readonly containersMax: number;
  /** Bytes of one string (UTF-8, as encoded). */
  readonly stringBytesMax: number;
  /** Bytes of one binary. */
  readonly binaryBytesMax: number;
  /** Elements of one array. */
  readonly arrayLengthMax: number;
  /** Entries (key-value pairs) of one map. */
  readonly mapEntriesMax: number;
}

/**
 * Sized for Granary's own documents with room to spare: a commit manifest nests 8 deep, a stream
 * entry is ~12 values, the largest strings are error messages (a few KiB) and the largest binary
 * a plan stripe's packed streams (32 bytes a column). Callers that legitimately need more (a large
 * commit, a plan) raise one bound for that call.
 */
export const MSGPACK_LIMITS: MsgpackLimits = {
  depthMax: 32,
  itemsMax: 1_000_000,
  containersMax: 100_000,
  stringBytesMax: 1024 * 1024,
  binaryBytesMax: 64 * 1024 * 1024,
  arrayLengthMax: 1_000_000,
  mapEntriesMax: 100_000,
};

/**
 * Granary's densest legitimate bodies carry at least this many bytes per value (a commit's stream
 * entry is ~130 bytes for ~14 values; a column spec ~20 bytes for 5) and per array or map (a stream
 * entry with its stats map, ~65 bytes per container).
 */
const BODY_BYTES_PER_ITEM_MIN = 4;
const BODY_BYTES_PER_CONTAINER_MIN = 32;

/**
 * Bounds for a route that accepts up to `bodyBytesMax`: the defaults, raised in proportion for a
 * route sized for large bodies (a commit), so that what a full body may decode to stays a small
 * multiple of the body limit its owner chose (~16 bytes of heap per value, ~64 per container, at
 * worst ~6x the limit), whatever the bytes.
 */
export function msgpackLimitsForBody(bodyBytesMax: number): MsgpackLimits {
  return {
    ...MSGPACK_LIMITS,
    itemsMax: Math.max(MSGPACK_LIMITS.itemsMax, Math.floor(bodyBytesMax / BODY_BYTES_PER_ITEM_MIN)),
    containersMax: Math.max(MSGPACK_LIMITS.containersMax, Math.floor(bodyBytesMax / BODY_BYTES_PER_CONTAINER_MIN)),
  };
}

/**
 * The walk lets through one extension, msgpackr's `undefined` (fixext1 type 0), which msgpackr
 * writes for an optional field left undefined; everything else was refused before decoding.
 */
const UNDEFINED_ONLY: ExtensionCodecType<undefined> = {
  tryToEncode: (): ExtData | null => null,
  decode: (_data: Uint8Array, type: number): unknown => {
    if (type === 0) return undefined;
    throw new DecodeError(`extension type ${type} is not accepted`);
  },
};

/**
 * Decodes one msgpack document from untrusted bytes, or throws naming the offset and the rule
 * broken: GRN_BAD_REQUEST for malformed bytes, GRN_PAYLOAD_TOO_LARGE beyond a bound. Integers
 * beyond 2^53 come back as (rounded) numbers, as JSON would give them: a bigint reaching code that
 * does arithmetic with numbers throws a TypeError. Binaries are views of `bytes` (Buffers if it is
 * one; no copy): do not reuse `bytes` while the value is alive.
 */
export function decodeUntrustedMsgpack(bytes: Uint8Array, limits: Partial<MsgpackLimits> = {}): unknown {
  const bounds: MsgpackLimits = { ...MSGPACK_LIMITS, ...limits };
  checkMsgpack(bytes, bounds);
  const decoder = new Decoder({
    extensionCodec: UNDEFINED_ONLY,
    maxStrLength: bounds.stringBytesMax,
    maxBinLength: bounds.binaryBytesMax,
    maxArrayLength: bounds.arrayLengthMax,
    maxMapLength: bounds.mapEntriesMax,
    maxExtLength: 1,
  });
  try {
    return decoder.decode(bytes);
  } catch (error) {
    // The walk accepts only what the decoder reads; reaching here is a bug in the walk. The
    // decoder's own message names no value, but keep only its class: it is not the client's.
    throw new GranaryError('GRN_BAD_REQUEST', `msgpack body refused: the decoder failed after validation (${(error as Error).name})`);
  }
}

/** What a container on the walk's stack still expects. */
interface Open {
  /** Values still to read: elements of an array, or keys and values of a map. */
  remaining: number;
  /** True for a map: then an even `remaining` means the next value is a key. */
  readonly map: boolean;
}

const PROTO_KEY = Buffer.from('__proto__', 'latin1');

/** Malformed or not Granary's: 400. */
function refuse(offset: number, rule: string): never {
  throw new GranaryError('GRN_BAD_REQUEST', `msgpack body refused at byte ${offset}: ${rule}`);
}

/** Well-formed but beyond a bound: 413, as a body over the byte limit is. */
function tooLarge(offset: number, rule: string): never {
  throw new GranaryError('GRN_PAYLOAD_TOO_LARGE', `msgpack body refused at byte ${offset}: ${rule}`);
}

/**
 * Walks the document without building it; throws on the first broken rule. Linear in the bytes:
 * every declared length and count is checked against what is left before anything else.
 */
export function checkMsgpack(bytes: Uint8Array, limits: MsgpackLimits): void {
  const end = bytes.length;
  if (end === 0) refuse(0, 'the body is empty');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Open[] = [];
  /** Values declared so far: the root, plus each container's children as soon as it is opened. */
  let declared = 1;
  let containers = 0;
  let at = 0;
  let rootRead = false;

  const need = (count: number, what: string): void => {
    if (count > end - at) refuse(at, `${what} declares ${count} bytes but ${end - at} remain`);
  };
  const open = (children: number, map: boolean, start: number): void => {
    if (stack.length + 1 > limits.depthMax) tooLarge(start, `nesting deeper than ${limits.depthMax}`);
    if (++containers > limits.containersMax) tooLarge(start, `more than ${limits.containersMax} arrays and maps in the document`);
    // Every child takes at least one byte: a count larger than the bytes left is a lie, caught
    // before it can size anything.
    if (children > end - at) refuse(start, `a container declares ${children} values but ${end - at} bytes remain`);
    declared += children;
    if (declared > limits.itemsMax) tooLarge(start, `more than ${limits.itemsMax} values in the document`);
    if (children > 0) stack.push({ remaining: children, map });
  };

  for (;;) {
    // A finished container leaves the stack only now, after its last child: a child container
    // opened while its parent was still on the stack is what makes depth count.
    while (stack.length > 0 && (stack[stack.length - 1] as Open).remaining === 0) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent === undefined && rootRead) break;
    const isKey = parent !== undefined && parent.map && parent.remaining % 2 === 0;
    if (parent === undefined) rootRead = true;
    else parent.remaining--;

    const start = at;
    if (at >= end) refuse(at, 'the body ends inside a value');
    const token = bytes[at++] as number;

    if (isKey) {
      let length: number;
      if (token >= 0xa0 && token <= 0xbf) length = token - 0xa0;
      else if (token === 0xd9) {
        need(1, 'a str8 header');
        length = bytes[at++] as number;
      } else if (token === 0xda) {
        need(2, 'a str16 header');
        length = view.getUint16(at);
        at += 2;
      } else if (token === 0xdb) {
        need(4, 'a str32 header');
        length = view.getUint32(at);
        at += 4;
      } else refuse(start, `a map key of type 0x${token.toString(16)} is not a string`);
      if (length > limits.stringBytesMax) tooLarge(start, `a string of ${length} bytes is longer than ${limits.stringBytesMax}`);
      need(length, 'a string');
      if (length === PROTO_KEY.length && PROTO_KEY.equals(bytes.subarray(at, at + length))) refuse(start, 'a map key is __proto__');
      at += length;
      continue;
    }

    if (token <= 0x7f || token >= 0xe0) continue; // fixint
    if (token <= 0x8f) {
      const entries = token - 0x80;
      if (entries > limits.mapEntriesMax) tooLarge(start, `a map of ${entries} entries is larger than ${limits.mapEntriesMax}`);
      open(entries * 2, true, start);
      continue;
    }
    if (token <= 0x9f) {
      const length = token - 0x90;
      if (length > limits.arrayLengthMax) tooLarge(start, `an array of ${length} elements is longer than ${limits.arrayLengthMax}`);
      open(length, false, start);
      continue;
    }
    if (token <= 0xbf) {
      const length = token - 0xa0;
      need(length, 'a string');
      at += length;
      continue;
    }
    switch (token) {
      case 0xc0: // nil
      case 0xc2: // false
      case 0xc3: // true
        continue;
      case 0xc1:
        refuse(start, 'byte 0xc1 is never used by msgpack');
        break;
      case 0xc4:
      case 0xc5:
      case 0xc6: {
        const width = token === 0xc4 ? 1 : token === 0xc5 ? 2 : 4;
        need(width, 'a bin header');
        const length = width === 1 ? (bytes[at] as number) : width === 2 ? view.getUint16(at) : view.getUint32(at);
        at += width;
        if (length > limits.binaryBytesMax) tooLarge(start, `a binary of ${length} bytes is longer than ${limits.binaryBytesMax}`);
        need(length, 'a binary');
        at += length;
        continue;
      }
      case 0xc7:
      case 0xc8:
      case 0xc9: {
        const width = token === 0xc7 ? 1 : token === 0xc8 ? 2 : 4;
        need(width + 1, 'an ext header');
        refuse(start, `extension type ${bytes[at + width] as number} is not accepted (Granary sends none)`);
        break;
      }
      case 0xca:
        need(4, 'a float32');
        at += 4;
        continue;
      case 0xcb:
        need(8, 'a float64');
        at += 8;
        continue;
      case 0xcc:
      case 0xd0:
        need(1, 'an int8');
        at += 1;
        continue;
      case 0xcd:
      case 0xd1:
        need(2, 'an int16');
        at += 2;
        continue;
      case 0xce:
      case 0xd2:
        need(4, 'an int32');
        at += 4;
        continue;
      case 0xcf:
      case 0xd3:
        need(8, 'an int64');
        at += 8;
        continue;
      case 0xd4: {
        need(2, 'a fixext1');
        const type = bytes[at] as number;
        // msgpackr writes `undefined` (an optional field left undefined) as fixext1 type 0.
        if (type !== 0) refuse(start, `extension type ${type} is not accepted (only msgpackr's undefined)`);
        at += 2;
        continue;
      }
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        need(1, 'a fixext header');
        refuse(start, `extension type ${bytes[at] as number} is not accepted (Granary sends none)`);
        break;
      case 0xd9:
      case 0xda:
      case 0xdb: {
        const width = token === 0xd9 ? 1 : token === 0xda ? 2 : 4;
        need(width, 'a str header');
        const length = width === 1 ? (bytes[at] as number) : width === 2 ? view.getUint16(at) : view.getUint32(at);
        at += width;
        if (length > limits.stringBytesMax) tooLarge(start, `a string of ${length} bytes is longer than ${limits.stringBytesMax}`);
        need(length, 'a string');
        at += length;
        continue;
      }
      case 0xdc:
      case 0xdd: {
        const width = token === 0xdc ? 2 : 4;
        need(width, 'an array header');
        const length = width === 2 ? view.getUint16(at) : view.getUint32(at);
        at += width;
        if (length > limits.arrayLengthMax) tooLarge(start, `an array of ${length} elements is longer than ${limits.arrayLengthMax}`);
        open(length, false, start);
        continue;
      }
      case 0xde:
      case 0xdf: {
        const width = token === 0xde ? 2 : 4;
        need(width, 'a map header');
        const entries = width === 2 ? view.getUint16(at) : view.getUint32(at);
        at += width;
        if (entries > limits.mapEntriesMax) tooLarge(start, `a map of ${entries} entries is larger than ${limits.mapEntriesMax}`);
        open(entries * 2, true, start);
        continue;
      }
      default:
        refuse(start, `unknown type byte 0x${token.toString(16)}`);
    }
  }
  if (at !== end) refuse(at, `${end - at} bytes follow the end of the document`);
}
