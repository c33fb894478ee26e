/**
 * Node tokens for clusters this repository starts itself (`granary up`, tests): each storage
 * node gets a token of role `node` bound to its id, kept in a file (mode 0600) it reads with
 * --token-file. A file that exists is kept, so restarts reuse the token the service knows.
 */
import { access } from 'node:fs/promises';
import type { MetadataClient } from '../client/index.js';
import { writePrivateFile } from '../protocol/secret-files.js';

export async function ensureNodeTokenFile(metadata: MetadataClient, nodeId: string, file: string): Promise<void> {
  const exists = await access(file).then(
    () => true,
    () => false,
  );
  if (exists) return;
  const created = await metadata.createToken({ role: 'node', nodeId, description: `storage node ${nodeId}` });
  await writePrivateFile(file, `${created.token}\n`);
}
