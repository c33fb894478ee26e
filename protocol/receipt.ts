/**
 * Put receipts: a storage node signs, with its own Ed25519 key, that it holds a chunk of a given
 * length and checksum. A writer hands the receipts of every shard to its commit, and the metadata
 * service checks them against the keys nodes registered with, so a commit can name only chunks
 * that nodes really stored (a commit naming unwritten chunks would fail every later read).
 *
 * Wire form: base64url of the 64-byte signature over
 *   RECEIPT_DOMAIN | chunk id (utf8) | 0 | dataBytes u64 | checksum u64.
 */
import { type KeyObject, sign, verify } from 'node:crypto';

const DOMAIN = Buffer.from('granary-receipt-v1\0');
/** A receipt is one Ed25519 signature: 64 bytes, 86 base64url characters. */
export const RECEIPT_TEXT_BYTES = 86;

function receiptMessage(chunkId: string, dataBytes: number, checksum: bigint): Buffer {
  const id = Buffer.from(chunkId, 'utf8');
  const message = Buffer.alloc(DOMAIN.length + id.length + 1 + 16);
  DOMAIN.copy(message, 0);
  id.copy(message, DOMAIN.length);
  message.writeBigUInt64BE(BigInt(dataBytes), DOMAIN.length + id.length + 1);
  message.writeBigUInt64BE(checksum, DOMAIN.length + id.length + 9);
  return message;
}

export function signReceipt(chunkId: string, dataBytes: number, checksum: bigint, privateKey: KeyObject): string {
  return sign(null, receiptMessage(chunkId, dataBytes, checksum), privateKey).toString('base64url');
}

export function receiptVerifies(receipt: string, chunkId: string, dataBytes: number, checksum: bigint, publicKey: KeyObject): boolean {
  if (receipt.length !== RECEIPT_TEXT_BYTES) return false;
  const signature = Buffer.from(receipt, 'base64url');
  if (signature.length !== 64) return false;
  return verify(null, receiptMessage(chunkId, dataBytes, checksum), publicKey, signature);
}
