/**
 * Planning from a cold manifest cache against a warm one: what a reader's first scan of a table
 * costs once stream locations live in manifest pieces in the store instead of in memory.
 *
 * Catalog (test/helpers/wide-catalog.ts), written into a LevelDB data directory and loaded the way
 * the service loads it (MetadataState.load): 500 float columns, 20 partitions of one file of 100
 * stripes: 1,000,000 stream locations in 48 MB of pieces (~240 KB each). Each run plans every
 * page of a full scan through MetadataService.scans (no HTTP). Cold: a fresh service (an empty
 * cache; LevelDB and the OS page cache stay warm, so this is the manifest cache's cost, not a
 * disk's). Warm: the same service again, every piece cached (256 MiB default).
 *
 *   npx tsx bench/manifest-cache.ts [runs]
 */
import { join } from 'node:path';
import { MetadataDb } from '../metadata/db.js';
import { MetadataService } from '../metadata/service.js';
import { MetadataState } from '../metadata/state.js';
import type { ScanPlan } from '../protocol/index.js';
import { makeTempDir } from '../test/helpers/temp-dir.js';
import { writeWideCatalog } from '../test/helpers/wide-catalog.js';
import { printTable, ratio } from './measure.js';

const SHAPE = { columns: 500, partitions: 20, filesPerPartition: 1, stripesPerFile: 100, stripesPerBlock: 10 } as const;

async function planAll(service: MetadataService): Promise<{ ms: number; locations: number }> {
  const start = process.hrtime.bigint();
  let locations = 0;
  let after: string | undefined;
  do {
    const page: ScanPlan = await service.scans.plan('wide', {}, after === undefined ? {} : { after });
    locations += page.stripes.length * page.columns.length;
    after = page.next;
  } while (after !== undefined);
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, locations };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

export async function benchManifestCache(runs = 5): Promise<{ coldMs: number; warmMs: number; locations: number; manifestBytes: number }> {
  const dir = await makeTempDir('bench-manifests');
  try {
    const catalog = await writeWideCatalog(dir.path, SHAPE);
    const db = new MetadataDb(join(dir.path, 'catalog'));
    await db.open();
    try {
      const state = new MetadataState(db);
      await state.load();
      const service = (): MetadataService => new MetadataService(state, { liveness: { suspectAfterMs: 10_000, deadAfterMs: 60_000 }, auth: 'off' }, Date.now());
      // One untimed pass of each kind first: the JIT, LevelDB's block cache and the page cache.
      const warmService = service();
      await planAll(service());
      await planAll(warmService);
      const cold: number[] = [];
      const warm: number[] = [];
      let locations = 0;
      for (let run = 0; run < runs; run++) {
        const fresh = service();
        const c = await planAll(fresh);
        cold.push(c.ms);
        locations = c.locations;
        warm.push((await planAll(warmService)).ms);
        if (fresh.scans.manifests.counters.hits > fresh.scans.manifests.counters.misses) throw new Error('a cold run found its pieces cached');
      }
      if (locations !== catalog.locations) throw new Error(`planned ${locations} locations of ${catalog.locations}`);
      const coldMs = median(cold);
      const warmMs = median(warm);
      printTable(`Planning ${locations.toLocaleString('en-US')} stream locations (${SHAPE.columns} cols x ${catalog.stripes} stripes, ${(catalog.manifestBytes / 1e6).toFixed(1)} MB of manifest pieces), every page, median of ${runs} runs`, [
        ['manifest cache', 'median', 'min', 'runs (ms)', 'cold / warm (median)', 'cold / warm (min)'],
        ['cold (empty)', `${coldMs.toFixed(1)} ms`, `${Math.min(...cold).toFixed(1)} ms`, cold.map((ms) => ms.toFixed(0)).join(' '), ratio(coldMs, warmMs), ratio(Math.min(...cold), Math.min(...warm))],
        ['warm (all cached)', `${warmMs.toFixed(1)} ms`, `${Math.min(...warm).toFixed(1)} ms`, warm.map((ms) => ms.toFixed(0)).join(' '), '', ''],
      ]);
      return { coldMs, warmMs, locations, manifestBytes: catalog.manifestBytes };
    } finally {
      await db.close();
    }
  } finally {
    await dir.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchManifestCache(Number(process.argv[2] ?? 5));
