/**
 * Hostile msgpack, byte by byte: the two decoding bombs of issue 11 as they were sent, and the
 * pieces the fuzz suite splices into bodies (extension headers, lying lengths, deep nesting).
 * msgpackr's structured-clone packer writes the shared references, so the bombs are the bytes a
 * real attacker would get from the library itself.
 */
import { Packr, pack } from 'msgpackr';

const sharedPackr = new Packr({ structuredClone: true });

/**
 * ~14.5 KB: a commit manifest whose stripes are 1,200 references to one stripe holding 1,200
 * references to one stream entry. Decoded naively it is 1.4 M valid-looking stream entries for
 * schema validation to walk (the body that froze the metadata service for 57 s).
 */
export function sharedReferenceCommitBomb(): Buffer {
  const entry = { block: 'b'.repeat(24), offset: 0, length: 1, checksum: '0123456789abcdef', encoding: 1, stats: { nulls: 0 } };
  const stripe = { rows: 1, streams: new Array<unknown>(1_200).fill(entry) };
  const manifest = { files: [{ columns: ['c'], stripes: new Array<unknown>(1_200).fill(stripe) }], blocks: [] };
  return sharedPackr.pack(manifest);
}

/**
 * ~520 bytes: a batch read whose ranges double 2^37 times through shared references, then one
 * trailing byte, on which msgpackr used to JSON.stringify the whole value for its error message.
 */
export function sharedReferenceTrailingBomb(): Buffer {
  let value: unknown = { chunk: 'x', offset: 0, length: 1 };
  for (let level = 0; level < 37; level++) value = [value, value];
  return Buffer.concat([sharedPackr.pack({ ranges: value }), Buffer.from([0x00])]);
}

/** Extension headers Granary never sends, each followed by enough bytes to look complete. */
export const EXTENSION_PIECES: readonly Buffer[] = [
  Buffer.from([0xd4, 0x70, 0x00]), // fixext1 shared-reference pointer
  Buffer.from([0xd5, 0x70, 0x00, 0x00]), // fixext2 pointer
  Buffer.from([0xd6, 0x69, 0x00, 0x00, 0x00, 0x01]), // fixext4 shared-reference id
  Buffer.from([0xc7, 0x01, 0x70, 0x00]), // ext8 pointer
  Buffer.from([0xc7, 0x00, 0x69]), // ext8 empty id
  Buffer.from([0xd4, 0x72, 0x00]), // record definition
  Buffer.from([0xc7, 0x02, 0x62, 0x00, 0x00]), // bundled strings
  Buffer.from([0xd6, 0xff, 0x00, 0x00, 0x00, 0x00]), // timestamp (a Date)
  Buffer.from([0xd4, 0x65, 0x00]), // error object
];

/** Headers that declare 2^32-1 of something and deliver a few bytes. */
export const HUGE_DECLARATIONS: readonly Buffer[] = [
  Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]), // str32
  Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]), // bin32
  Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]), // array32
  Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0xc0]), // map32
  Buffer.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x01]), // ext32
  Buffer.from([0xdd, 0x00, 0x10, 0x00, 0x00]), // array32 of 2^20, no elements
];

/** `depth` arrays of one element inside each other (`[[[...nil...]]]`). */
export function deepArrays(depth: number): Buffer {
  return Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0xc0])]);
}

/** `depth` single-entry maps inside each other (`{a:{a:{...}}}`). */
export function deepMaps(depth: number): Buffer {
  const level = Buffer.from([0x81, 0xa1, 0x61]);
  return Buffer.concat([...new Array<Buffer>(depth).fill(level), Buffer.from([0xc0])]);
}

/** An array32 of `count` empty maps: one byte each on the wire, ~60 bytes each on the heap. */
export function manyEmptyMaps(count: number): Buffer {
  const header = Buffer.from([0xdd, 0, 0, 0, 0]);
  header.writeUInt32BE(count, 1);
  return Buffer.concat([header, Buffer.alloc(count, 0x80)]);
}

/** `{ "__proto__": { polluted: true }, ...rest }` as msgpack (msgpackr's pack renames nothing). */
export function protoKeyMsgpack(rest: Record<string, unknown> = {}): Buffer {
  const entries = Object.entries(rest);
  if (entries.length > 14) throw new Error('protoKeyMsgpack takes at most 14 fields');
  const parts = [Buffer.from([0x80 + entries.length + 1]), pack('__proto__'), pack({ polluted: true })];
  for (const [key, value] of entries) parts.push(pack(key), pack(value));
  return Buffer.concat(parts);
}
