/**
 * Thrift compact-protocol structs as a tree that keeps every field's wire type, read and written
 * with Apache Thrift's own TCompactProtocol (npm `thrift`). Parquet's footer and page headers are
 * compact-protocol structs; Granary reads a few of their fields (offsets, sizes, CRCs) and, to
 * repair a footer, writes one back without the fields a strict reader refuses. Generated code
 * would give typed structs but would drop every field it does not know on the way through; this
 * tree keeps them all, so a struct written back is the struct read, less what was removed.
 *
 * The protocol does the varints, zigzag and field-id deltas; this module only walks the
 * structure. Reading is bounded by the bytes given: a length or count past them is the
 * library's underrun error, and nesting deeper than STRUCT_DEPTH_MAX is refused.
 */
import thrift from 'thrift';

const { Thrift, TCompactProtocol, TFramedTransport, TBufferedTransport } = thrift;

/** Thrift's wire types, as the library numbers them. */
export const ThriftType = {
  BOOL: Thrift.Type.BOOL,
  BYTE: Thrift.Type.BYTE,
  DOUBLE: Thrift.Type.DOUBLE,
  I16: Thrift.Type.I16,
  I32: Thrift.Type.I32,
  I64: Thrift.Type.I64,
  STRING: Thrift.Type.STRING,
  STRUCT: Thrift.Type.STRUCT,
  MAP: Thrift.Type.MAP,
  SET: Thrift.Type.SET,
  LIST: Thrift.Type.LIST,
} as const;
export type ThriftTypeName = keyof typeof ThriftType;

/** Deeper than any Parquet struct nests (LogicalType inside SchemaElement inside FileMetaData). */
const STRUCT_DEPTH_MAX = 32;

export type ThriftValue = boolean | number | bigint | Buffer | ThriftStruct | ThriftList | ThriftMap;

export interface ThriftField {
  readonly id: number;
  readonly type: number;
  readonly value: ThriftValue;
}

export interface ThriftStruct {
  readonly kind: 'struct';
  readonly fields: readonly ThriftField[];
}

/** A list or a set (the same on the wire). */
export interface ThriftList {
  readonly kind: 'list' | 'set';
  readonly elementType: number;
  readonly items: readonly ThriftValue[];
}

export interface ThriftMap {
  readonly kind: 'map';
  readonly keyType: number;
  readonly valueType: number;
  readonly entries: readonly (readonly [ThriftValue, ThriftValue])[];
}

/** The library's int64 helpers (in `thrift` 0.24, not yet in its published typings). */
interface Int64Helpers {
  toBigInt(value: thrift.Int64): bigint;
  fromBigInt(value: bigint): thrift.Int64;
}
const int64 = thrift as unknown as Int64Helpers;

/**
 * The struct at the start of `bytes` and how many bytes it took. Throws on bytes that end early
 * or do not make a struct (the library's errors, and RangeError for too deep a nesting).
 */
export function readThriftStruct(bytes: Uint8Array): { struct: ThriftStruct; bytesRead: number } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const transport = new TFramedTransport(buffer);
  const protocol = new TCompactProtocol(transport);
  let struct: ThriftStruct;
  try {
    struct = readStruct(protocol, 0);
  } catch (error) {
    // The library's underrun error has no message; its name is kept for callers to tell it apart.
    if (error instanceof Error && error.name === 'InputBufferUnderrunError') {
      const ended = new Error(`thrift: the ${bytes.byteLength} bytes end inside the struct`, { cause: error });
      ended.name = error.name;
      throw ended;
    }
    throw error;
  }
  const bytesRead = (transport as unknown as { readPos?: unknown }).readPos;
  if (typeof bytesRead !== 'number' || bytesRead < 0 || bytesRead > bytes.byteLength) {
    throw new Error('thrift: the transport does not say how many bytes it read');
  }
  return { struct, bytesRead };
}

/** `struct` in the compact protocol. */
export function writeThriftStruct(struct: ThriftStruct): Buffer {
  let out: Buffer | undefined;
  const transport = new TBufferedTransport(undefined, (message) => {
    out = message;
  });
  const protocol = new TCompactProtocol(transport);
  writeStruct(protocol, struct);
  protocol.flush();
  if (out === undefined) throw new Error('thrift: the transport produced no bytes');
  return out;
}

function readStruct(protocol: thrift.TProtocol, depth: number): ThriftStruct {
  if (depth > STRUCT_DEPTH_MAX) throw new RangeError(`thrift: structs nest deeper than ${STRUCT_DEPTH_MAX}`);
  const fields: ThriftField[] = [];
  protocol.readStructBegin();
  for (;;) {
    const field = protocol.readFieldBegin();
    if (field.ftype === Thrift.Type.STOP) break;
    fields.push({ id: field.fid, type: field.ftype, value: readValue(protocol, field.ftype, depth, false) });
    protocol.readFieldEnd();
  }
  protocol.readStructEnd();
  return { kind: 'struct', fields };
}

function readValue(protocol: thrift.TProtocol, type: number, depth: number, inCollection: boolean): ThriftValue {
  switch (type) {
    case Thrift.Type.BOOL:
      // In a collection a bool is a byte of its own (1 true, 2 false); the library's readBool
      // reads it wrongly there (thrift 0.24), so the byte is read as a byte.
      return inCollection ? protocol.readByte() === 1 : protocol.readBool();
    case Thrift.Type.BYTE:
      return protocol.readByte();
    case Thrift.Type.I16:
      return protocol.readI16();
    case Thrift.Type.I32:
      return protocol.readI32();
    case Thrift.Type.I64:
      return int64.toBigInt(protocol.readI64());
    case Thrift.Type.DOUBLE:
      return protocol.readDouble();
    case Thrift.Type.STRING:
      return protocol.readBinary();
    case Thrift.Type.STRUCT:
      return readStruct(protocol, depth + 1);
    case Thrift.Type.LIST:
    case Thrift.Type.SET: {
      const list = type === Thrift.Type.LIST ? protocol.readListBegin() : protocol.readSetBegin();
      const items: ThriftValue[] = [];
      // No preallocation: the count is a claim; every item takes at least a byte, so a false
      // count ends in the library's underrun error, not in a huge array.
      for (let i = 0; i < list.size; i++) items.push(readValue(protocol, list.etype, depth + 1, true));
      if (type === Thrift.Type.LIST) protocol.readListEnd();
      else protocol.readSetEnd();
      return { kind: type === Thrift.Type.LIST ? 'list' : 'set', elementType: list.etype, items };
    }
    case Thrift.Type.MAP: {
      const map = protocol.readMapBegin();
      const entries: (readonly [ThriftValue, ThriftValue])[] = [];
      for (let i = 0; i < map.size; i++) {
        const key = readValue(protocol, map.ktype, depth + 1, true);
        entries.push([key, readValue(protocol, map.vtype, depth + 1, true)]);
      }
      protocol.readMapEnd();
      return { kind: 'map', keyType: map.ktype, valueType: map.vtype, entries };
    }
    default:
      throw new Error(`thrift: unknown wire type ${type}`);
  }
}

function writeStruct(protocol: thrift.TProtocol, struct: ThriftStruct): void {
  protocol.writeStructBegin('');
  for (const field of struct.fields) {
    protocol.writeFieldBegin('', field.type, field.id);
    writeValue(protocol, field.type, field.value);
    protocol.writeFieldEnd();
  }
  protocol.writeFieldStop();
  protocol.writeStructEnd();
}

function writeValue(protocol: thrift.TProtocol, type: number, value: ThriftValue): void {
  switch (type) {
    case Thrift.Type.BOOL:
      return protocol.writeBool(value as boolean);
    case Thrift.Type.BYTE:
      return protocol.writeByte(value as number);
    case Thrift.Type.I16:
      return protocol.writeI16(value as number);
    case Thrift.Type.I32:
      return protocol.writeI32(value as number);
    case Thrift.Type.I64:
      return protocol.writeI64(int64.fromBigInt(value as bigint));
    case Thrift.Type.DOUBLE:
      return protocol.writeDouble(value as number);
    case Thrift.Type.STRING:
      return protocol.writeBinary(value as Buffer);
    case Thrift.Type.STRUCT:
      return writeStruct(protocol, value as ThriftStruct);
    case Thrift.Type.LIST:
    case Thrift.Type.SET: {
      const list = value as ThriftList;
      if (type === Thrift.Type.LIST) protocol.writeListBegin(list.elementType, list.items.length);
      else protocol.writeSetBegin(list.elementType, list.items.length);
      for (const item of list.items) writeValue(protocol, list.elementType, item);
      if (type === Thrift.Type.LIST) protocol.writeListEnd();
      else protocol.writeSetEnd();
      return;
    }
    case Thrift.Type.MAP: {
      const map = value as ThriftMap;
      protocol.writeMapBegin(map.keyType, map.valueType, map.entries.length);
      for (const [key, entry] of map.entries) {
        writeValue(protocol, map.keyType, key);
        writeValue(protocol, map.valueType, entry);
      }
      protocol.writeMapEnd();
      return;
    }
    default:
      throw new Error(`thrift: unknown wire type ${type}`);
  }
}

/** The field `id` of `struct`, if present (the last one, as thrift readers keep the last). */
export function fieldOf(struct: ThriftStruct, id: number): ThriftField | undefined {
  for (let i = struct.fields.length - 1; i >= 0; i--) {
    const field = struct.fields[i] as ThriftField;
    if (field.id === id) return field;
  }
  return undefined;
}

/** The name of a wire type, for messages. */
export function thriftTypeName(type: number): string {
  for (const [name, value] of Object.entries(ThriftType)) if (value === type) return name;
  return `type ${type}`;
}
