import { describeKvStoreContract } from '../../../helpers/kv-store-contract.js';
import { makeTempDir } from '../../../helpers/temp-dir.js';
import { LevelStore } from '../../../../metadata/store/level-store.js';
import { join } from 'node:path';

describeKvStoreContract('LevelStore', async () => {
  const dir = await makeTempDir('level-store');
  const path = join(dir.path, 'catalog');
  let store = await LevelStore.open(path);
  return {
    store,
    async reopen() {
      // LevelDB allows one handle per directory: a reopen is a restart.
      await store.close();
      store = await LevelStore.open(path);
      return store;
    },
    async cleanup() {
      await store.close();
      await dir.remove();
    },
  };
});
