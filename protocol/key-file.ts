/**
 * Ed25519 private keys kept in a file (PKCS#8 PEM, mode 0600), created on first use: the metadata
 * service's capability key and each storage node's receipt key must survive restarts, because
 * the other side holds the public half.
 */
import { type KeyObject, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GranaryError } from './errors.js';

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
  await mkdir(dirname(file), { recursive: true });
  // 'wx': two processes starting on one directory must not overwrite each other's key.
  await writeFile(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return privateKey;
}
