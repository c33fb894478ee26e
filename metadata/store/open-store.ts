/** Opens the store a metadata process or tool was configured with (--store level|etcd). */
import { join } from 'node:path';
import { EtcdStore } from './etcd-store.js';
import { type EtcdTlsFiles, loadEtcdTls } from './etcd-tls.js';
import type { KvStore } from './kv-store.js';
import { LevelStore } from './level-store.js';

export type StoreOptions =
  | { readonly kind: 'level'; readonly dataDir: string }
  | ({
      readonly kind: 'etcd';
      readonly endpoints: readonly string[];
      readonly prefix: string;
      /** Writes need the leader fence (replicas); false for tools that own the prefix (restore). */
      readonly fenced?: boolean;
    } & EtcdTlsFiles);

/** The LevelDB of a data directory lives in DATA/catalog. */
export function levelPath(dataDir: string): string {
  return join(dataDir, 'catalog');
}

export async function openStore(options: StoreOptions): Promise<KvStore> {
  if (options.kind === 'level') return LevelStore.open(levelPath(options.dataDir));
  const tls = loadEtcdTls(options);
  return new EtcdStore({ endpoints: options.endpoints, prefix: options.prefix, fenced: options.fenced ?? false, ...(tls === undefined ? {} : { tls }) });
}
