/**
 * Files that hold secrets: tokens and Ed25519 private keys. They are written with mode 0600 and
 * read back with an error naming the file. The metadata service's capability key and each storage
 * node's receipt key are created on first use and must survive restarts, because the other side
 * holds the public half.
 */
import { type KeyObject, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GranaryError } from './errors.js';

/**
 * Writes `text` readable by its owner only. `exclusive`: fail if the file exists (two processes
 * starting on one directory must not overwrite each other's key).
 */
export async function writePrivateFile(file: string, text: string, options: { readonly exclusive?: boolean } = {}): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text, { mode: 0o600, ...(options.exclusive === true ? { flag: 'wx' } : {}) });
  // An existing file keeps its old mode through writeFile.
  await chmod(file, 0o600);
}

/** The trimmed contents of a secret file (a token, a public key); `what` names it in errors. */
export function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new GranaryError('GRN_BAD_REQUEST', `cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (text === '') throw new GranaryError('GRN_BAD_REQUEST', `${what} ${file} is empty`);
  return text;
}

export async function loadOrCreateKeyFile(file: string): Promise<KeyObject> {
  const pem = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (pem !== undefined) {
    try {
      const key = createPrivateKey(pem);
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`it holds an ${key.asymmetricKeyType ?? 'unknown'} key`);
      return key;
    } catch (error) {
      throw new GranaryError('GRN_BAD_REQUEST', `${file} is not an Ed25519 private key (PKCS#8 PEM): ${(error as Error).message}; move it away to make a new one`);
    }
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  await writePrivateFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { exclusive: true });
  return privateKey;
}
