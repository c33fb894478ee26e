/**
 * The metadata service's Prometheus metrics: how far the cluster is from full redundancy and how
 * fast repair closes the gap, what garbage waits behind dead nodes, nodes by state, and the
 * latency of every route (scan planning and commits above all). Gauges are computed when scraped,
 * from the same state the API answers from, so they cannot drift from it. One registry per
 * service, so several services can live in one test process.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { NODE_STATES, type RepairCounters } from '../protocol/index.js';
import type { MetadataService } from './service.js';
import type { Counts } from './job-accounts.js';
import { READ_SIZE_BUCKET_BOUNDS } from '../protocol/job-types.js';

/** Reported reads of the tables that still exist (a dropped table's figures leave the metrics). */
function liveTableTotals(service: MetadataService): [string, Counts][] {
  return [...service.jobs.tableTotals].filter(([table]) => service.state.tablesByName.has(table));
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export class MetadataMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'granary_metadata_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: 'granary_metadata_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route (scan plans and commits among them)',
    labelNames: ['route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly repairTotals: Readonly<Record<keyof RepairCounters, Counter>>;
  private lastCounters: RepairCounters | undefined;

  constructor(service: MetadataService) {
    const registers = [this.registry];
    const sync = (): void => this.syncRepairCounters(service.repair.counterSnapshot());
    // Each counter catches up with the scheduler's count when scraped.
    const counter = (name: string, help: string): Counter => new Counter({ name, help, registers, collect: sync });
    this.repairTotals = {
      tasksStarted: counter('granary_repair_tasks_started_total', 'Repair tasks handed to storage nodes'),
      tasksDone: counter('granary_repair_tasks_done_total', 'Repair tasks whose every shard was restored'),
      tasksFailed: counter('granary_repair_tasks_failed_total', 'Repair tasks with a shard that could not be restored'),
      tasksExpired: counter('granary_repair_tasks_expired_total', 'Repair tasks whose node never reported'),
      shardsRestored: counter('granary_repair_shards_restored_total', 'Shards rebuilt or copied to a new location'),
      bytesRead: counter('granary_repair_read_bytes_total', 'Bytes repair read from storage nodes'),
      bytesWritten: counter('granary_repair_written_bytes_total', 'Bytes of restored chunks written'),
    };
    new Gauge({
      name: 'granary_nodes',
      help: 'Storage nodes by state',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const counts = service.nodes.countByState();
        for (const state of NODE_STATES) this.set({ state }, counts[state]);
      },
    });
    // Set by granary_blocks' collect: one assessment of the repair queue per scrape, not two.
    const queuedBytes = new Gauge({ name: 'granary_repair_queued_bytes', help: 'Shard bytes still to restore', registers: [] });
    new Gauge({
      name: 'granary_blocks',
      help: 'Committed blocks by health: healthy, under-replicated (repairable), unavailable, moving (off draining nodes)',
      labelNames: ['health'] as const,
      registers,
      collect() {
        const { blocks, bytesQueued } = service.repair.status({ after: undefined, limit: 0 }, new Map());
        queuedBytes.set(bytesQueued);
        this.set({ health: 'healthy' }, blocks.healthy);
        this.set({ health: 'under-replicated' }, blocks.underReplicated);
        this.set({ health: 'unavailable' }, blocks.unavailable);
        this.set({ health: 'moving' }, blocks.moving);
      },
    });
    this.registry.registerMetric(queuedBytes);
    new Gauge({
      name: 'granary_repair_tasks_running',
      help: 'Repair tasks in flight',
      registers,
      collect() {
        this.set(service.state.repairTasks.size);
      },
    });
    new Gauge({
      name: 'granary_gc_backlog',
      help: 'Garbage collection backlog: records, chunks, and records waiting out a back-off',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        const backlog = service.gcBacklog();
        this.set({ kind: 'records' }, backlog.records);
        this.set({ kind: 'chunks' }, backlog.chunks);
        this.set({ kind: 'backing_off' }, backlog.backingOff);
      },
    });
    new Gauge({
      name: 'granary_inventory',
      help: 'Reconciliation: rounds done, missing chunks found, orphans found and queued for deletion, rounds open',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        const { counters } = service.inventory;
        this.set({ kind: 'rounds_done' }, counters.roundsDone);
        this.set({ kind: 'missing_found' }, counters.missingFound);
        this.set({ kind: 'orphans_found' }, counters.orphansFound);
        this.set({ kind: 'orphans_queued' }, counters.orphansQueued);
        this.set({ kind: 'rounds_open' }, service.inventory.snapshot().roundsOpen);
      },
    });
    // Gauges of the cache's running counts: a hit ratio falling as plans widen says to raise
    // --manifest-cache-bytes; bytes never pass the setting.
    new Gauge({
      name: 'granary_manifest_cache',
      help: 'Manifest piece cache: hits, misses, misses that joined a read under way, evictions (since start), pieces and bytes held, bytes allowed',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        const cache = service.scans.manifests;
        this.set({ kind: 'hits' }, cache.counters.hits);
        this.set({ kind: 'misses' }, cache.counters.misses);
        this.set({ kind: 'shared_loads' }, cache.counters.sharedLoads);
        this.set({ kind: 'evictions' }, cache.counters.evictions);
        this.set({ kind: 'pieces' }, cache.pieces);
        this.set({ kind: 'bytes' }, cache.bytes);
        this.set({ kind: 'bytes_max' }, cache.bytesMax);
      },
    });
    // Per table, never per job: job ids are unbounded, tables are bounded by the catalog quota.
    new Gauge({
      name: 'granary_table_reads',
      help: 'What readers reported reading per table since the service started: requests, bytes needed and fetched, degraded reads, rebuild bytes, rows',
      labelNames: ['table', 'kind'] as const,
      registers,
      collect() {
        this.reset();
        for (const [table, counts] of liveTableTotals(service)) {
          this.set({ table, kind: 'requests' }, counts.requests);
          this.set({ table, kind: 'bytes_needed' }, counts.bytesNeeded);
          this.set({ table, kind: 'bytes_fetched' }, counts.bytesFetched);
          this.set({ table, kind: 'degraded_reads' }, counts.degradedReads);
          this.set({ table, kind: 'rebuild_bytes' }, counts.rebuildBytes);
          this.set({ table, kind: 'rows' }, counts.rows);
        }
      },
    });
    new Gauge({
      name: 'granary_table_reads_by_size',
      help: 'Reads readers reported per table by size (cumulative, le in bytes), since the service started',
      labelNames: ['table', 'le'] as const,
      registers,
      collect() {
        this.reset();
        for (const [table, counts] of liveTableTotals(service)) {
          let cumulative = 0;
          counts.readSizes.forEach((count, bucket) => {
            cumulative += count;
            this.set({ table, le: bucket < READ_SIZE_BUCKET_BOUNDS.length ? String(READ_SIZE_BUCKET_BOUNDS[bucket]) : '+Inf' }, cumulative);
          });
        }
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counters only go up: each scrape adds what the scheduler counted since the last one. */
  private syncRepairCounters(now: RepairCounters): void {
    for (const key of Object.keys(this.repairTotals) as (keyof RepairCounters)[]) {
      const delta = now[key] - (this.lastCounters?.[key] ?? 0);
      if (delta > 0) this.repairTotals[key].inc(delta);
    }
    this.lastCounters = now;
  }
}
