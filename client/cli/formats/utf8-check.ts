/**
 * Text input (JSON Lines, CSV) must be UTF-8: decoding with replacement would store U+FFFD in
 * place of the bad bytes and say nothing, so bytes are checked first (node's `isUtf8`, simdutf)
 * and a file that is not UTF-8 is refused with the line and the byte where it stops being so.
 * Locating the bad byte runs only on that failure path, with a fatal TextDecoder.
 */
import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';
import { FormatError } from '../../format/index.js';

/**
 * Where `bytes` stops being UTF-8: the index of the first byte of the first sequence that is
 * invalid or cut off by the end, or `bytes.length` when it is all UTF-8. Whether a prefix decodes
 * (a cut character at its end allowed) is monotone in its length, so a binary search over a fatal
 * streaming decode finds the longest such prefix; a cut character at its end is where it fails.
 */
export function firstInvalidUtf8Byte(bytes: Uint8Array): number {
  const validPrefix = (length: number): boolean => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, length), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  let good = 0;
  let bad = bytes.length + 1;
  while (bad - good > 1) {
    const middle = (good + bad) >>> 1;
    if (validPrefix(middle)) good = middle;
    else bad = middle;
  }
  if (good === bytes.length && isUtf8(bytes)) return bytes.length;
  return good - incompleteTail(bytes.subarray(0, good));
}

/** `<where>: invalid UTF-8 at byte B of the line (column C)`: C counts characters before it, from 1. */
export function invalidUtf8Error(where: string, line: Uint8Array): FormatError {
  const at = firstInvalidUtf8Byte(line);
  const column = [...Buffer.from(line.subarray(0, at)).toString('utf8')].length + 1;
  return new FormatError(`${where}: invalid UTF-8 at byte ${at + 1} of the line (column ${column}: ${hexOf(line.subarray(at, at + 4))}); the file must be UTF-8 text`);
}

function hexOf(bytes: Uint8Array): string {
  return `bytes ${[...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(' ')}`;
}

/** The most bytes a character takes, so the longest tail a chunk may cut. */
const CHARACTER_BYTES_MAX = 4;

/**
 * A pass-through stream that fails with a FormatError naming `path`, the line and the byte of
 * the line where the bytes stop being UTF-8. Chunks may cut a character: the cut tail is carried
 * over to the next chunk; at the end nothing may be left. Lines are counted by `\n` bytes
 * (physical lines, as CSV parsers count them).
 */
export function utf8Checker(path: string): Transform {
  let line = 1;
  /** Bytes of the current line passed on before the bytes at hand. */
  let lineBytes = 0;
  let carry: Buffer = Buffer.alloc(0);
  const fail = (bytes: Buffer): FormatError => {
    const at = firstInvalidUtf8Byte(bytes);
    const lastNewline = bytes.subarray(0, at).lastIndexOf(0x0a);
    let newlines = 0;
    for (let i = bytes.indexOf(0x0a); i >= 0 && i < at; i = bytes.indexOf(0x0a, i + 1)) newlines++;
    const byteOfLine = lastNewline < 0 ? lineBytes + at : at - lastNewline - 1;
    return new FormatError(
      `${path}:${line + newlines}: invalid UTF-8 at byte ${byteOfLine + 1} of the line (${hexOf(bytes.subarray(at, at + 4))}); the file must be UTF-8 text`,
    );
  };
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      const bytes = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
      const whole = bytes.subarray(0, bytes.length - incompleteTail(bytes));
      if (!isUtf8(whole)) {
        done(fail(bytes));
        return;
      }
      carry = Buffer.from(bytes.subarray(whole.length));
      const lastNewline = whole.lastIndexOf(0x0a);
      if (lastNewline < 0) {
        lineBytes += whole.length;
      } else {
        for (let i = whole.indexOf(0x0a); i >= 0; i = whole.indexOf(0x0a, i + 1)) line++;
        lineBytes = whole.length - lastNewline - 1;
      }
      done(null, whole);
    },
    flush(done: TransformCallback) {
      if (carry.length > 0) done(fail(carry));
      else done();
    },
  });
}

/** Bytes at the end of `bytes` that begin a character the chunk does not finish (0..3). */
function incompleteTail(bytes: Uint8Array): number {
  const length = bytes.length;
  for (let back = 1; back <= Math.min(CHARACTER_BYTES_MAX - 1, length); back++) {
    const byte = bytes[length - back] as number;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    if (byte < 0x80) return 0;
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    return needed > back ? back : 0;
  }
  return 0;
}
