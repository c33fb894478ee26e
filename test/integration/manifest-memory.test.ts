/**
 * The metadata service's memory is bounded by --manifest-cache-bytes, not by the catalog: a real
 * `granary metadata` process on a catalog whose manifests are over 10x the cache plans every page
 * of a full scan, every stream location is checked against the formula it was written with, and
 * the process's RSS stays under the cache plus a fixed overhead. The same scan with a cache that
 * holds every manifest shows what the catalog costs when it is all in memory.
 */
import { readFile } from 'node:fs/promises';
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScanPlan } from '../../protocol/index.js';
import { type GranaryProcess, startGranaryProcess } from '../helpers/granary-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { type WideCatalog, blockIdOf, expectedEntry, writeWideCatalog } from '../helpers/wide-catalog.js';

const MiB = 1024 * 1024;
const CACHE_BYTES = 16 * MiB;
/**
 * What the process holds besides the cache, measured on this catalog (the test prints it; three
 * runs on a 2-core machine): 255-340 MiB of VmRSS in all, made of
 *   - the service itself before any request: 132 MiB VmRSS (86 MiB anonymous) with an empty data
 *     directory (Node, V8, fastify, the gRPC client of etcd3, the wasm codecs), 137-147 MiB with
 *     this catalog loaded (its small records: 90 files, 360 blocks);
 *   - LevelDB's table files, memory-mapped: file pages (RssFile) that grew 45 MiB while the scans
 *     read them; the kernel's page cache, reclaimable, not the process's heap;
 *   - planning's transients: 80-145 MiB of anonymous memory, the garbage V8 lets pile up between
 *     collections (decoded pieces evicted, plan pages of ~4 MiB built and packed), which does not
 *     grow with the catalog; the most was seen during a full `npm test` on the loaded machine,
 *     where collections come later.
 * Bounds with some room: VmRSS <= cache + 384 MiB, and anonymous memory <= its value at start +
 * cache + 192 MiB. The old design held ~96 bytes per location in the heap, 330 MiB for this
 * catalog before any garbage, and a cache holding every manifest grows well past the bounded one.
 */
const RSS_OVERHEAD_BYTES = 384 * MiB;
const ANON_TRANSIENT_BYTES = 192 * MiB;
/** 500 columns x 7,200 stripes: 3.6M stream locations, 173 MB of manifest pieces. */
const SHAPE = { columns: 500, partitions: 90, filesPerPartition: 1, stripesPerFile: 80, stripesPerBlock: 20 } as const;
const STRIPES_PER_PARTITION = SHAPE.filesPerPartition * SHAPE.stripesPerFile;

/** Resident memory of a process: all of it (VmRSS), and the part that is not file pages (RssAnon). */
async function rss(pid: number): Promise<{ total: number; anon: number; file: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const kb = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1];
    if (kb === undefined) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(kb) * 1024;
  };
  return { total: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

/** Plans every page of a full scan, checks every location, and samples the process's RSS after each page. */
async function scanAndCheck(service: GranaryProcess, catalog: WideCatalog): Promise<{ pages: number; locations: number; rssMax: { total: number; anon: number; file: number }; planMillis: number; millis: number }> {
  const partitionIndex = new Map<string, number>();
  const rssMax = await rss(service.pid);
  let planMillis = 0;
  let after: string | undefined;
  let pages = 0;
  let locations = 0;
  const started = Date.now();
  do {
    const asked = Date.now();
    const response = await fetch(`${service.url}/v1/tables/wide/scan${after === undefined ? '' : `?after=${encodeURIComponent(after)}`}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const body = Buffer.from(await response.arrayBuffer());
    planMillis += Date.now() - asked;
    expect(response.status, body.toString('utf8', 0, 300)).toBe(200);
    const page = unpack(body) as ScanPlan;
    expect(page.columns).toHaveLength(SHAPE.columns);
    for (const stripe of page.stripes) {
      let p = partitionIndex.get(stripe.partition);
      if (p === undefined) {
        p = partitionIndex.size;
        partitionIndex.set(stripe.partition, p);
      }
      const g = p * STRIPES_PER_PARTITION + stripe.stripe;
      const words = new Uint32Array(Uint8Array.from(stripe.streams).buffer);
      const offsets = new Float64Array(words.buffer);
      const blockId = page.blocks[words[0] as number]?.blockId;
      expect(blockId).toBe(blockIdOf(SHAPE, g));
      for (let c = 0; c < SHAPE.columns; c++) {
        const want = expectedEntry(g, c);
        const at = c * 8;
        if (
          page.blocks[words[at] as number]?.blockId !== blockId ||
          words[at + 1] !== want.length ||
          offsets[c * 4 + 1] !== want.offset ||
          words[at + 4] !== want.checksumLow ||
          words[at + 5] !== want.checksumHigh ||
          words[at + 6] !== want.encoding ||
          words[at + 7] !== want.nulls
        ) {
          throw new Error(`stripe ${stripe.partition}#${stripe.stripe} column ${c}: planned entry differs from the one written`);
        }
        locations++;
      }
    }
    pages++;
    const now = await rss(service.pid);
    for (const key of ['total', 'anon', 'file'] as const) rssMax[key] = Math.max(rssMax[key], now[key]);
    after = page.next;
  } while (after !== undefined);
  expect(partitionIndex.size).toBe(SHAPE.partitions);
  return { pages, locations, rssMax, planMillis, millis: Date.now() - started };
}

describe('manifests out of RAM: a real metadata process', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let catalog: WideCatalog;
  const running: GranaryProcess[] = [];

  beforeAll(async () => {
    dir = await makeTempDir('manifest-memory');
    catalog = await writeWideCatalog(dir.path, SHAPE);
  }, 300_000);
  afterAll(async () => {
    for (const service of running) await service.kill('SIGTERM');
    await dir.remove();
  });

  async function start(cacheBytes: number): Promise<GranaryProcess> {
    const service = await startGranaryProcess(
      ['metadata', '--data', dir.path, '--port', '0', '--auth', 'off', '--log-level', 'warn', '--manifest-cache-bytes', String(cacheBytes)],
      'metadata ready',
    );
    running.push(service);
    return service;
  }

  async function stop(service: GranaryProcess): Promise<void> {
    await service.kill('SIGTERM');
    running.splice(running.indexOf(service), 1);
  }

  it('plans a full scan of manifests 10x its cache, exactly, within the cache plus a fixed overhead; a cache of everything grows past it', async () => {
    expect(catalog.manifestBytes).toBeGreaterThanOrEqual(10 * CACHE_BYTES);
    const mib = (bytes: number) => +(bytes / MiB).toFixed(1);
    const bounded = await start(CACHE_BYTES);
    const atStart = await rss(bounded.pid);
    const first = await scanAndCheck(bounded, catalog);
    // A second scan turns the whole cache over again (every piece evicted before it is needed).
    const second = await scanAndCheck(bounded, catalog);
    const metrics = await (await fetch(`${bounded.url}/metrics`)).text();
    await stop(bounded);
    expect(first.locations).toBe(catalog.locations);
    expect(second.locations).toBe(catalog.locations);
    const max = { total: Math.max(first.rssMax.total, second.rssMax.total), anon: Math.max(first.rssMax.anon, second.rssMax.anon), file: Math.max(first.rssMax.file, second.rssMax.file) };
    console.log(`bounded manifest cache: ${JSON.stringify({
      manifestMiB: mib(catalog.manifestBytes),
      cacheMiB: CACHE_BYTES / MiB,
      locations: catalog.locations,
      pages: first.pages,
      atStartMiB: { total: mib(atStart.total), anon: mib(atStart.anon), file: mib(atStart.file) },
      maxMiB: { total: mib(max.total), anon: mib(max.anon), file: mib(max.file) },
      scanMs: [first.planMillis, second.planMillis],
      cache: /^granary_manifest_cache\{kind="(?:misses|evictions|bytes)"\} \d+$/gm[Symbol.match](metrics),
    })}`);
    expect(max.total).toBeLessThanOrEqual(CACHE_BYTES + RSS_OVERHEAD_BYTES);
    expect(max.anon).toBeLessThanOrEqual(atStart.anon + CACHE_BYTES + ANON_TRANSIENT_BYTES);

    // For comparison, the same scans with a cache that holds every manifest.
    const unbounded = await start(1024 * MiB);
    await scanAndCheck(unbounded, catalog);
    const all = await scanAndCheck(unbounded, catalog);
    await stop(unbounded);
    console.log(`unbounded manifest cache: ${JSON.stringify({ manifestMiB: mib(catalog.manifestBytes), maxMiB: { total: mib(all.rssMax.total), anon: mib(all.rssMax.anon), file: mib(all.rssMax.file) }, warmScanMs: all.planMillis })}`);
    expect(all.rssMax.anon - max.anon).toBeGreaterThan((catalog.manifestBytes - CACHE_BYTES) / 2);
  }, 900_000);
});
