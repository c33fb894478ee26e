/**
 * The wire type Parquet's format declares for each field of each struct, generated from
 * parquet.thrift of apache/parquet-format at commit 24102ed (2026; format 2.12 and ALP) with
 * @creditkarma/thrift-parser: enums are I32 on the wire, binary is STRING. Regenerate it when the
 * format adds fields; a field missing here is kept as it is (footer-repair.ts).
 */
import type { ThriftTypeName } from './thrift-tree.js';

export interface DeclaredType {
  readonly type: ThriftTypeName;
  /** The struct a STRUCT field holds. */
  readonly struct?: string;
  /** What a LIST or SET holds. */
  readonly element?: DeclaredType;
}

export const PARQUET_STRUCTS: Readonly<Record<string, Readonly<Record<number, DeclaredType>>>> = {
  SizeStatistics: {
    1: { type: 'I64' },
    2: { type: 'LIST', element: { type: 'I64' } },
    3: { type: 'LIST', element: { type: 'I64' } },
  },
  BoundingBox: {
    1: { type: 'DOUBLE' },
    2: { type: 'DOUBLE' },
    3: { type: 'DOUBLE' },
    4: { type: 'DOUBLE' },
    5: { type: 'DOUBLE' },
    6: { type: 'DOUBLE' },
    7: { type: 'DOUBLE' },
    8: { type: 'DOUBLE' },
  },
  GeospatialStatistics: {
    1: { type: 'STRUCT', struct: 'BoundingBox' },
    2: { type: 'LIST', element: { type: 'I32' } },
  },
  Statistics: {
    1: { type: 'STRING' },
    2: { type: 'STRING' },
    3: { type: 'I64' },
    4: { type: 'I64' },
    5: { type: 'STRING' },
    6: { type: 'STRING' },
    7: { type: 'BOOL' },
    8: { type: 'BOOL' },
    9: { type: 'I64' },
  },
  StringType: {
  },
  UUIDType: {
  },
  MapType: {
  },
  ListType: {
  },
  EnumType: {
  },
  DateType: {
  },
  Float16Type: {
  },
  NullType: {
  },
  DecimalType: {
    1: { type: 'I32' },
    2: { type: 'I32' },
  },
  MilliSeconds: {
  },
  MicroSeconds: {
  },
  NanoSeconds: {
  },
  TimestampType: {
    1: { type: 'BOOL' },
    2: { type: 'STRUCT', struct: 'TimeUnit' },
  },
  TimeType: {
    1: { type: 'BOOL' },
    2: { type: 'STRUCT', struct: 'TimeUnit' },
  },
  IntType: {
    1: { type: 'BYTE' },
    2: { type: 'BOOL' },
  },
  JsonType: {
  },
  BsonType: {
  },
  VariantType: {
    1: { type: 'BYTE' },
  },
  GeometryType: {
    1: { type: 'STRING' },
  },
  GeographyType: {
    1: { type: 'STRING' },
    2: { type: 'I32' },
  },
  FileType: {
  },
  SchemaElement: {
    1: { type: 'I32' },
    2: { type: 'I32' },
    3: { type: 'I32' },
    4: { type: 'STRING' },
    5: { type: 'I32' },
    6: { type: 'I32' },
    7: { type: 'I32' },
    8: { type: 'I32' },
    9: { type: 'I32' },
    10: { type: 'STRUCT', struct: 'LogicalType' },
  },
  DataPageHeader: {
    1: { type: 'I32' },
    2: { type: 'I32' },
    3: { type: 'I32' },
    4: { type: 'I32' },
    5: { type: 'STRUCT', struct: 'Statistics' },
  },
  IndexPageHeader: {
  },
  DictionaryPageHeader: {
    1: { type: 'I32' },
    2: { type: 'I32' },
    3: { type: 'BOOL' },
  },
  DataPageHeaderV2: {
    1: { type: 'I32' },
    2: { type: 'I32' },
    3: { type: 'I32' },
    4: { type: 'I32' },
    5: { type: 'I32' },
    6: { type: 'I32' },
    7: { type: 'BOOL' },
    8: { type: 'STRUCT', struct: 'Statistics' },
  },
  SplitBlockAlgorithm: {
  },
  XxHash: {
  },
  Uncompressed: {
  },
  BloomFilterHeader: {
    1: { type: 'I32' },
    2: { type: 'STRUCT', struct: 'BloomFilterAlgorithm' },
    3: { type: 'STRUCT', struct: 'BloomFilterHash' },
    4: { type: 'STRUCT', struct: 'BloomFilterCompression' },
  },
  PageHeader: {
    1: { type: 'I32' },
    2: { type: 'I32' },
    3: { type: 'I32' },
    4: { type: 'I32' },
    5: { type: 'STRUCT', struct: 'DataPageHeader' },
    6: { type: 'STRUCT', struct: 'IndexPageHeader' },
    7: { type: 'STRUCT', struct: 'DictionaryPageHeader' },
    8: { type: 'STRUCT', struct: 'DataPageHeaderV2' },
  },
  KeyValue: {
    1: { type: 'STRING' },
    2: { type: 'STRING' },
  },
  SortingColumn: {
    1: { type: 'I32' },
    2: { type: 'BOOL' },
    3: { type: 'BOOL' },
  },
  PageEncodingStats: {
    1: { type: 'I32' },
    2: { type: 'I32' },
    3: { type: 'I32' },
  },
  ColumnMetaData: {
    1: { type: 'I32' },
    2: { type: 'LIST', element: { type: 'I32' } },
    3: { type: 'LIST', element: { type: 'STRING' } },
    4: { type: 'I32' },
    5: { type: 'I64' },
    6: { type: 'I64' },
    7: { type: 'I64' },
    8: { type: 'LIST', element: { type: 'STRUCT', struct: 'KeyValue' } },
    9: { type: 'I64' },
    10: { type: 'I64' },
    11: { type: 'I64' },
    12: { type: 'STRUCT', struct: 'Statistics' },
    13: { type: 'LIST', element: { type: 'STRUCT', struct: 'PageEncodingStats' } },
    14: { type: 'I64' },
    15: { type: 'I32' },
    16: { type: 'STRUCT', struct: 'SizeStatistics' },
    17: { type: 'STRUCT', struct: 'GeospatialStatistics' },
  },
  EncryptionWithFooterKey: {
  },
  EncryptionWithColumnKey: {
    1: { type: 'LIST', element: { type: 'STRING' } },
    2: { type: 'STRING' },
  },
  ColumnChunk: {
    1: { type: 'STRING' },
    2: { type: 'I64' },
    3: { type: 'STRUCT', struct: 'ColumnMetaData' },
    4: { type: 'I64' },
    5: { type: 'I32' },
    6: { type: 'I64' },
    7: { type: 'I32' },
    8: { type: 'STRUCT', struct: 'ColumnCryptoMetaData' },
    9: { type: 'STRING' },
  },
  RowGroup: {
    1: { type: 'LIST', element: { type: 'STRUCT', struct: 'ColumnChunk' } },
    2: { type: 'I64' },
    3: { type: 'I64' },
    4: { type: 'LIST', element: { type: 'STRUCT', struct: 'SortingColumn' } },
    5: { type: 'I64' },
    6: { type: 'I64' },
    7: { type: 'I16' },
  },
  TypeDefinedOrder: {
  },
  IEEE754TotalOrder: {
  },
  Int96TimestampOrder: {
  },
  PageLocation: {
    1: { type: 'I64' },
    2: { type: 'I32' },
    3: { type: 'I64' },
  },
  OffsetIndex: {
    1: { type: 'LIST', element: { type: 'STRUCT', struct: 'PageLocation' } },
    2: { type: 'LIST', element: { type: 'I64' } },
  },
  ColumnIndex: {
    1: { type: 'LIST', element: { type: 'BOOL' } },
    2: { type: 'LIST', element: { type: 'STRING' } },
    3: { type: 'LIST', element: { type: 'STRING' } },
    4: { type: 'I32' },
    5: { type: 'LIST', element: { type: 'I64' } },
    6: { type: 'LIST', element: { type: 'I64' } },
    7: { type: 'LIST', element: { type: 'I64' } },
    8: { type: 'LIST', element: { type: 'I64' } },
  },
  AesGcmV1: {
    1: { type: 'STRING' },
    2: { type: 'STRING' },
    3: { type: 'BOOL' },
  },
  AesGcmCtrV1: {
    1: { type: 'STRING' },
    2: { type: 'STRING' },
    3: { type: 'BOOL' },
  },
  FileMetaData: {
    1: { type: 'I32' },
    2: { type: 'LIST', element: { type: 'STRUCT', struct: 'SchemaElement' } },
    3: { type: 'I64' },
    4: { type: 'LIST', element: { type: 'STRUCT', struct: 'RowGroup' } },
    5: { type: 'LIST', element: { type: 'STRUCT', struct: 'KeyValue' } },
    6: { type: 'STRING' },
    7: { type: 'LIST', element: { type: 'STRUCT', struct: 'ColumnOrder' } },
    8: { type: 'STRUCT', struct: 'EncryptionAlgorithm' },
    9: { type: 'STRING' },
  },
  FileCryptoMetaData: {
    1: { type: 'STRUCT', struct: 'EncryptionAlgorithm' },
    2: { type: 'STRING' },
  },
  TimeUnit: {
    1: { type: 'STRUCT', struct: 'MilliSeconds' },
    2: { type: 'STRUCT', struct: 'MicroSeconds' },
    3: { type: 'STRUCT', struct: 'NanoSeconds' },
  },
  LogicalType: {
    1: { type: 'STRUCT', struct: 'StringType' },
    2: { type: 'STRUCT', struct: 'MapType' },
    3: { type: 'STRUCT', struct: 'ListType' },
    4: { type: 'STRUCT', struct: 'EnumType' },
    5: { type: 'STRUCT', struct: 'DecimalType' },
    6: { type: 'STRUCT', struct: 'DateType' },
    7: { type: 'STRUCT', struct: 'TimeType' },
    8: { type: 'STRUCT', struct: 'TimestampType' },
    10: { type: 'STRUCT', struct: 'IntType' },
    11: { type: 'STRUCT', struct: 'NullType' },
    12: { type: 'STRUCT', struct: 'JsonType' },
    13: { type: 'STRUCT', struct: 'BsonType' },
    14: { type: 'STRUCT', struct: 'UUIDType' },
    15: { type: 'STRUCT', struct: 'Float16Type' },
    16: { type: 'STRUCT', struct: 'VariantType' },
    17: { type: 'STRUCT', struct: 'GeometryType' },
    18: { type: 'STRUCT', struct: 'GeographyType' },
    19: { type: 'STRUCT', struct: 'FileType' },
  },
  BloomFilterAlgorithm: {
    1: { type: 'STRUCT', struct: 'SplitBlockAlgorithm' },
  },
  BloomFilterHash: {
    1: { type: 'STRUCT', struct: 'XxHash' },
  },
  BloomFilterCompression: {
    1: { type: 'STRUCT', struct: 'Uncompressed' },
  },
  ColumnCryptoMetaData: {
    1: { type: 'STRUCT', struct: 'EncryptionWithFooterKey' },
    2: { type: 'STRUCT', struct: 'EncryptionWithColumnKey' },
  },
  ColumnOrder: {
    1: { type: 'STRUCT', struct: 'TypeDefinedOrder' },
    2: { type: 'STRUCT', struct: 'IEEE754TotalOrder' },
    3: { type: 'STRUCT', struct: 'Int96TimestampOrder' },
  },
  EncryptionAlgorithm: {
    1: { type: 'STRUCT', struct: 'AesGcmV1' },
    2: { type: 'STRUCT', struct: 'AesGcmCtrV1' },
  },
};
