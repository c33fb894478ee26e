/**
 * Repair on a local cluster of real processes (RS 6+3 on 11 storage nodes, 3 failure domains),
 * with the bench table of bench/workload.ts, every figure a ratio to a peer or ceiling measured in
 * the same run:
 *
 *   foreground: the training job's scan (bench/client.ts's measurement) healthy; with the node it
 *               reads most from SIGKILLed and its disk deleted, before the node is declared dead
 *               (reads go around it, nothing is repaired yet); while repair rebuilds the node at
 *               the metadata service's DEFAULT rate; and after full redundancy. The repair cost is
 *               the scan during repair over the scan with the same node down before repair: both
 *               read around the same lost node, so the ratio isolates what repair takes from the
 *               scan (the ratio to the healthy scan also carries the cost of degraded reads).
 *   recovery:   that loss from SIGKILL to every block at full redundancy (`healthy === total` in
 *               GET /v1/repair), split into detection (the --dead-after-ms grace period, a setting)
 *               and repair (declared dead -> full redundancy), at the default repair settings.
 *   throughput: the metadata service restarted with a repair rate far above what the machine can
 *               do (2 GiB/s), a fresh empty node added, and a second node lost: rebuilt chunk bytes
 *               per second, from the node declared dead to full redundancy and while tasks run,
 *               vs (a) reconstructShards of the same policy and window (one lost shard from k
 *               windows of REPAIR_WINDOW_BYTES, one core) and (b) a file write + fsync of a few
 *               hundred MiB on the data directories' file system.
 *
 * During each measurement the CPU time of the bench process, the metadata service and the storage
 * nodes is read from /proc, so a foreground loss can be put down to the nodes' repair work, the
 * client, or other tenants of the machine. Warnings and errors the processes logged are counted.
 *
 *   npm run build && npx tsx bench/repair.ts [--quick] [--scale F] [--dead-after-ms MS]
 *                                            [--repair-rate 128MiB] [--repair-tasks-max 8]
 *                                            [--throughput-repair-rate 2GiB] [--logs DIR]
 */
import { randomFillSync } from 'node:crypto';
import { mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseByteSize } from '../bin/cli-values.js';
import { GranaryClient, type MetadataClient } from '../client/index.js';
import { encodeParity, reconstructShards } from '../erasure/index.js';
import type { NodeInfo, RepairCounters, RepairStatus } from '../protocol/index.js';
import { REPAIR_WINDOW_BYTES } from '../storage-node/repair-executor.js';
import { type Cluster, nodeCredentialArgs, startCluster, startMetadataProcess } from '../test/helpers/cluster.js';
import type { GranaryProcess } from '../test/helpers/granary-process.js';
import { pollUntil } from '../test/helpers/poll.js';
import { type NodeProcess, startNodeProcess } from '../test/helpers/storage-node-process.js';
import { fileWriteCeiling } from './ceilings.js';
import { type ReadContext, type ReadFigures, measureRead, scanOnce, writeTable } from './client.js';
import { SCALE_OPTIONS, positive, scaleFromFlags } from './flags.js';
import { type Throughput, machineInfo, mbps, mib, pct, printTable, ratio, throughput } from './measure.js';
import { printTargets, repairTargets } from './targets.js';
import { COLUMNS, type Scale, TABLE, jobPartitions } from './workload.js';

/** More nodes than k+m, so a lost node's shards have somewhere to go, twice over. */
const NODES = 11;
const DOMAINS = 3;
const EC = '6+3';
const POLICY = { dataShards: 6, parityShards: 3 } as const;
/**
 * The storage node's default heartbeat (the cluster helper's 200 ms, for tests, keeps eleven idle
 * nodes busy on a third of a core). Repair tasks travel in heartbeat answers, so it is part of
 * the time to full redundancy.
 */
const HEARTBEAT_INTERVAL_MS = 2_000;
/**
 * The service's default suspect-after; reads go around a suspect node, and nothing else depends on
 * it. Kept at the default where dead-after allows: shorter, a heartbeat answered late on a loaded
 * machine would send reads around a live node.
 */
const SUSPECT_AFTER_MS_DEFAULT = 10_000;
/**
 * Grace before a silent node is dead (the service's default is 10 min). It must outlast the scan
 * measured with the node down before repair starts (the bench checks that it did), and heartbeats
 * answered late on a loaded machine (a node's heartbeat request times out after 5 s): at 3 s,
 * live nodes were declared dead and rebuilt while they came and went; at 20 s, a loaded machine
 * outlasted it with the scan measured before repair.
 */
const DEAD_AFTER_MS_DEFAULT = 30_000;
const DEAD_AFTER_MS_QUICK = 12_000;
/** Throughput phase: detection is not what it measures, so the shortest grace that stays clear of late heartbeats. */
const THROUGHPUT_DEAD_AFTER_MS = 12_000;
/** Far above what two cores can rebuild, so the limit is not what the throughput phase measures. */
const THROUGHPUT_REPAIR_RATE_DEFAULT = 2 * 1024 * 1024 * 1024;
/** The disk ceiling's file: a few hundred MiB, written once and fsynced. */
const DISK_CEILING_BYTES = 512 * 1024 * 1024;
const DISK_CEILING_BYTES_QUICK = 256 * 1024 * 1024;
/** How often the repair status and node list are sampled while a repair is followed. */
const SAMPLE_INTERVAL_MS = 100;
/** Nodes registering after a metadata restart, a new node joining. */
const CLUSTER_CHANGE_DEADLINE_MS = 60_000;
/** After the dead-after grace, how long the first repair task may take to start. */
const REPAIR_START_GRACE_MS = 60_000;
/** Full redundancy must come within this many times the time the rate limit allows, and at least the floor. */
const REPAIR_DEADLINE_FACTOR = 6;
const REPAIR_DEADLINE_MIN_MS = 5 * 60_000;
/** /proc reports CPU times in USER_HZ ticks, 100 per second on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;
/** Pino levels counted as problems, and how many distinct messages are printed. */
const PINO_WARN = 40;
const PINO_ERROR = 50;
const LOG_MESSAGES_PRINTED = 12;
const LOG_EXAMPLE_CHARS = 400;

export interface RepairBenchOptions {
  readonly scale: Scale;
  /** Minimum seconds per scan measurement. */
  readonly seconds: number;
  readonly quick: boolean;
  readonly deadAfterMs?: number;
  /** The foreground phase's --repair-rate and --repair-tasks-max; undefined: the metadata service's defaults. */
  readonly foregroundRepairRate?: number;
  readonly foregroundTasksMax?: number;
  readonly throughputRepairRate?: number;
  /** Where to write every process's log at the end (the cluster's directory is removed). */
  readonly logsDir?: string;
}

// ---------------------------------------------------------------- CPU time from /proc

interface CpuSnapshot {
  readonly at: number;
  /** pid -> CPU seconds (user + system) so far. */
  readonly processes: ReadonlyMap<number, number>;
  readonly roles: ReadonlyMap<number, 'client' | 'metadata' | 'node'>;
  /** Machine-wide busy and stolen CPU seconds (all cores); undefined off Linux. */
  readonly machineBusy: number | undefined;
  readonly machineSteal: number | undefined;
  /** Seconds during which some runnable task waited for a CPU (Linux PSI); undefined without it. */
  readonly cpuWaiting: number | undefined;
}

/** Cores busy on average over a window, by who was busy. */
export interface CpuShare {
  readonly seconds: number;
  readonly client: number;
  readonly metadata: number;
  readonly nodes: number;
  /** Busy cores not accounted for by this bench's processes: other tenants of the machine. */
  readonly other: number | null;
  /** Cores the hypervisor gave to other guests while this one wanted them. */
  readonly steal: number | null;
  /** Share of the window during which some runnable task waited for a CPU: above ~0.5, every figure is squeezed. */
  readonly cpuPressure: number | null;
}

async function processCpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is the first, utime the 12th.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

async function machineCpu(): Promise<{ busy: number; steal: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
    const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0);
    return { busy: busy / CLOCK_TICKS_PER_SECOND, steal: (steal ?? 0) / CLOCK_TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

async function cpuWaitingSeconds(): Promise<number | undefined> {
  try {
    const some = (await readFile('/proc/pressure/cpu', 'utf8')).split('\n').find((line) => line.startsWith('some '));
    const total = some?.match(/total=(\d+)/)?.[1];
    return total === undefined ? undefined : Number(total) / 1e6;
  } catch {
    return undefined;
  }
}

async function cpuSnapshot(metadata: GranaryProcess, nodes: readonly GranaryProcess[]): Promise<CpuSnapshot> {
  const roles = new Map<number, 'client' | 'metadata' | 'node'>([[process.pid, 'client'], [metadata.pid, 'metadata']]);
  for (const node of nodes) if (node.child.exitCode === null && node.child.signalCode === null) roles.set(node.pid, 'node');
  const processes = new Map<number, number>();
  await Promise.all(
    [...roles.keys()].map(async (pid) => {
      const seconds = await processCpuSeconds(pid);
      if (seconds !== undefined) processes.set(pid, seconds);
    }),
  );
  const [machine, cpuWaiting] = await Promise.all([machineCpu(), cpuWaitingSeconds()]);
  return { at: Date.now(), processes, roles, machineBusy: machine?.busy, machineSteal: machine?.steal, cpuWaiting };
}

function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): CpuShare {
  const seconds = (after.at - before.at) / 1000;
  const used = { client: 0, metadata: 0, node: 0 };
  for (const [pid, role] of after.roles) {
    const start = before.processes.get(pid);
    const end = after.processes.get(pid);
    if (start !== undefined && end !== undefined) used[role] += end - start;
  }
  const ours = used.client + used.metadata + used.node;
  const busy = before.machineBusy !== undefined && after.machineBusy !== undefined ? after.machineBusy - before.machineBusy : undefined;
  const steal = before.machineSteal !== undefined && after.machineSteal !== undefined ? after.machineSteal - before.machineSteal : undefined;
  return {
    seconds,
    client: used.client / seconds,
    metadata: used.metadata / seconds,
    nodes: used.node / seconds,
    other: busy === undefined ? null : Math.max(0, busy - ours) / seconds,
    steal: steal === undefined ? null : steal / seconds,
    cpuPressure: before.cpuWaiting !== undefined && after.cpuWaiting !== undefined ? (after.cpuWaiting - before.cpuWaiting) / seconds : null,
  };
}

// ---------------------------------------------------------------- following a repair

interface Sample {
  readonly at: number;
  /** How long the metadata service took to answer both requests: it also answers heartbeats. */
  readonly latencyMs: number;
  readonly status: RepairStatus;
  readonly victim: NodeInfo | undefined;
  /** Other registered nodes not alive at the time. */
  readonly othersDown: readonly string[];
}

/** Samples GET /v1/repair and the lost node's record every SAMPLE_INTERVAL_MS until stopped. */
class RepairWatch {
  readonly samples: Sample[] = [];
  lastError: unknown;
  private readonly abort = new AbortController();
  private readonly loop: Promise<void>;

  constructor(
    private readonly metadata: MetadataClient,
    private readonly victimId: string,
  ) {
    this.loop = this.run();
  }

  latest(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        const asked = Date.now();
        const [status, nodes] = await Promise.all([this.metadata.repair(0), this.metadata.listNodes()]);
        const at = Date.now();
        this.samples.push({
          at,
          latencyMs: at - asked,
          status,
          victim: nodes.find((node) => node.nodeId === this.victimId),
          othersDown: nodes.filter((node) => node.nodeId !== this.victimId && node.state !== 'alive').map((node) => `${node.nodeId} ${node.state}`),
        });
      } catch (error) {
        this.lastError = error;
      }
      // A sampling period, not a wait for some state: the waits poll the samples with deadlines.
      await sleep(SAMPLE_INTERVAL_MS, undefined, { signal: this.abort.signal }).catch(() => undefined);
    }
  }
}

/** One node loss, from SIGKILL to full redundancy. Times in seconds. */
export interface RepairTimeline {
  readonly victim: string;
  readonly chunksLost: number;
  /** Shard bytes the node held: what repair must write. */
  readonly bytesLost: number;
  readonly deadAfterMs: number;
  readonly rateLimitBytesPerSecond: number;
  readonly tasksMax: number;
  /** SIGKILL -> declared dead (its last heartbeat + dead-after). */
  readonly detectionSeconds: number;
  /** Declared dead -> every block healthy: the meaningful figure (detection is a setting). */
  readonly repairSeconds: number;
  readonly totalSeconds: number;
  /** Declared dead -> first task handed out. */
  readonly firstTaskSeconds: number;
  /** First task -> full redundancy. */
  readonly activeSeconds: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly counters: RepairCounters;
  readonly peakTasksRunning: number;
  readonly meanTasksRunning: number;
  /** bytesWritten / repairSeconds. */
  readonly bytesPerSecond: number;
  /** Bytes reported between the first and the last report / the time between them; null with one report time. */
  readonly steadyBytesPerSecond: number | null;
  /** bytesRead / activeSeconds: what the rate limit applies to. */
  readonly readBytesPerSecond: number;
  readonly cpuWhileActive: CpuShare;
  /** CPU seconds all storage nodes spent per MiB rebuilt while repair ran (idle work included). */
  readonly nodeCpuSecondsPerMiB: number;
  /** Answer times of GET /v1/repair + /v1/nodes while repair ran (the service answers heartbeats the same way). */
  readonly metadataLatencyMs: { readonly median: number; readonly p95: number; readonly max: number };
  /** Other nodes seen suspect, dead or draining between the kill and full redundancy: late heartbeats, not losses. */
  readonly otherNodesDown: readonly string[];
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function countersSince(now: RepairCounters, base: RepairCounters): RepairCounters {
  return {
    tasksStarted: now.tasksStarted - base.tasksStarted,
    tasksDone: now.tasksDone - base.tasksDone,
    tasksFailed: now.tasksFailed - base.tasksFailed,
    tasksExpired: now.tasksExpired - base.tasksExpired,
    shardsRestored: now.shardsRestored - base.shardsRestored,
    bytesRead: now.bytesRead - base.bytesRead,
    bytesWritten: now.bytesWritten - base.bytesWritten,
  };
}

/** A lost node being followed: when it was killed, the counters then, and the samples since. */
class Loss {
  readonly watch: RepairWatch;
  readonly killedAt: number;
  private cpuAtStart: CpuSnapshot | undefined;
  private cpuAtEnd: CpuSnapshot | undefined;
  private firstTaskAt: number | undefined;
  private fullAt: number | undefined;

  private constructor(
    readonly victim: NodeProcess,
    readonly lost: { chunks: number; bytes: number },
    readonly baseline: RepairStatus,
    watch: RepairWatch,
    killedAt: number,
  ) {
    this.watch = watch;
    this.killedAt = killedAt;
  }

  /** SIGKILLs the node and deletes its data directory: a lost machine. */
  static async begin(cluster: Cluster, metadata: MetadataClient, victim: NodeProcess): Promise<Loss> {
    const lost = await shardsOn(metadata, victim.nodeId);
    const baseline = await metadata.repair(0);
    const watch = new RepairWatch(metadata, victim.nodeId);
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    await rm(join(cluster.root, victim.nodeId), { recursive: true, force: true });
    return new Loss(victim, lost, baseline, watch, killedAt);
  }

  /** The counters since the kill, from the latest sample. */
  progress(): RepairCounters {
    return countersSince(this.watch.latest()?.status.counters ?? this.baseline.counters, this.baseline.counters);
  }

  async awaitStart(cluster: Cluster): Promise<void> {
    const deadlineMs = this.baseline.settings.deadAfterMs + REPAIR_START_GRACE_MS;
    this.firstTaskAt = await pollUntil(
      `repair of ${this.victim.nodeId} to start`,
      () => {
        const first = this.watch.samples.find((sample) => sample.status.counters.tasksStarted > this.baseline.counters.tasksStarted);
        return first?.at;
      },
      deadlineMs,
    );
    this.cpuAtStart = await cpuSnapshot(cluster.metadata, cluster.nodes);
  }

  async awaitFullRedundancy(cluster: Cluster): Promise<void> {
    const rate = this.baseline.settings.rateBytesPerSecond;
    const allowedMs = ((this.lost.bytes * POLICY.dataShards) / rate) * 1000;
    this.fullAt = await pollUntil(
      `${this.victim.nodeId}'s shards rebuilt (every block healthy)`,
      () => {
        // Before the node is dead every block counts as healthy: full means after blocks were seen short.
        const short = this.watch.samples.findIndex((sample) => sample.status.blocks.underReplicated > 0);
        if (short < 0) return undefined;
        const full = this.watch.samples.slice(short).find((sample) => sample.status.blocks.healthy === sample.status.blocks.total && sample.status.tasksRunning === 0);
        return full?.at;
      },
      Math.max(REPAIR_DEADLINE_MIN_MS, REPAIR_DEADLINE_FACTOR * allowedMs),
    );
    this.cpuAtEnd = await cpuSnapshot(cluster.metadata, cluster.nodes);
    await this.watch.stop();
  }

  /** When repair was running: first task handed out -> full redundancy (or now, if not yet). */
  activeInterval(): { from: number; to: number } | undefined {
    if (this.firstTaskAt === undefined) return undefined;
    return { from: this.firstTaskAt, to: this.fullAt ?? Number.POSITIVE_INFINITY };
  }

  timeline(): RepairTimeline {
    const { samples } = this.watch;
    if (this.firstTaskAt === undefined || this.fullAt === undefined || this.cpuAtStart === undefined || this.cpuAtEnd === undefined) {
      throw new Error('the repair was not followed to full redundancy');
    }
    const seen = [...samples].reverse().find((sample) => sample.victim !== undefined)?.victim;
    if (seen === undefined || seen.state !== 'dead') throw new Error(`${this.victim.nodeId} was never seen dead`);
    const deadAfterMs = this.baseline.settings.deadAfterMs;
    const deadAt = Date.parse(seen.lastHeartbeatAt) + deadAfterMs;
    const final = samples.find((sample) => sample.at === this.fullAt) as Sample;
    const counters = countersSince(final.status.counters, this.baseline.counters);
    const written = (sample: Sample): number => sample.status.counters.bytesWritten - this.baseline.counters.bytesWritten;
    const firstReport = samples.find((sample) => written(sample) > 0);
    const lastReport = samples.find((sample) => written(sample) === counters.bytesWritten);
    const steady =
      firstReport !== undefined && lastReport !== undefined && lastReport.at > firstReport.at
        ? ((counters.bytesWritten - written(firstReport)) * 1000) / (lastReport.at - firstReport.at)
        : null;
    const active = samples.filter((sample) => sample.at >= (this.firstTaskAt as number) && sample.at <= (this.fullAt as number));
    const latencies = active.map((sample) => sample.latencyMs).sort((a, b) => a - b);
    const othersDown = new Set(samples.filter((sample) => sample.at >= this.killedAt).flatMap((sample) => sample.othersDown.map((entry) => entry.split(' ')[0] as string)));
    const cpu = cpuBetween(this.cpuAtStart, this.cpuAtEnd);
    const repairSeconds = (this.fullAt - deadAt) / 1000;
    const activeSeconds = (this.fullAt - this.firstTaskAt) / 1000;
    return {
      victim: this.victim.nodeId,
      chunksLost: this.lost.chunks,
      bytesLost: this.lost.bytes,
      deadAfterMs,
      rateLimitBytesPerSecond: this.baseline.settings.rateBytesPerSecond,
      tasksMax: this.baseline.settings.tasksMax,
      detectionSeconds: (deadAt - this.killedAt) / 1000,
      repairSeconds,
      totalSeconds: (this.fullAt - this.killedAt) / 1000,
      firstTaskSeconds: (this.firstTaskAt - deadAt) / 1000,
      activeSeconds,
      bytesRead: counters.bytesRead,
      bytesWritten: counters.bytesWritten,
      counters,
      peakTasksRunning: Math.max(0, ...active.map((sample) => sample.status.tasksRunning)),
      meanTasksRunning: active.length === 0 ? 0 : active.reduce((sum, sample) => sum + sample.status.tasksRunning, 0) / active.length,
      bytesPerSecond: counters.bytesWritten / repairSeconds,
      steadyBytesPerSecond: steady,
      readBytesPerSecond: counters.bytesRead / activeSeconds,
      cpuWhileActive: cpu,
      nodeCpuSecondsPerMiB: (cpu.nodes * cpu.seconds) / (counters.bytesWritten / 1024 / 1024),
      metadataLatencyMs: { median: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), max: latencies[latencies.length - 1] ?? 0 },
      otherNodesDown: [...othersDown].sort(),
    };
  }
}

/** Chunks the catalog places on a node, and their bytes. */
async function shardsOn(metadata: MetadataClient, nodeId: string): Promise<{ chunks: number; bytes: number }> {
  let chunks = 0;
  let bytes = 0;
  for await (const block of metadata.blocks()) {
    for (const chunk of block.chunks) {
      if (chunk.nodeId !== nodeId) continue;
      chunks++;
      bytes += block.shardBytes;
    }
  }
  return { chunks, bytes };
}

// ---------------------------------------------------------------- ceilings

/**
 * What one rebuild window asks of the codec, on one core: one lost data shard rebuilt from the
 * same window of k others (the executor reads data shards first, then parity), REPAIR_WINDOW_BYTES
 * each. Throughput counts rebuilt bytes, the unit repair throughput is reported in.
 */
async function codecCeiling(seconds: number): Promise<Throughput> {
  const k = POLICY.dataShards;
  const data = Array.from({ length: k }, () => randomFillSync(new Uint8Array(REPAIR_WINDOW_BYTES)));
  const parity = await encodeParity(POLICY, data);
  const lost = 0;
  const windows = [...data, ...parity].map((shard, index) => (index !== lost && index <= k ? shard : undefined));
  return throughput(
    'reconstruct',
    async () => {
      await reconstructShards(POLICY, windows, [lost]);
      return REPAIR_WINDOW_BYTES;
    },
    seconds,
  );
}

// ---------------------------------------------------------------- logs

export interface LogProblem {
  readonly role: string;
  readonly level: string;
  readonly message: string;
  readonly count: number;
  readonly example: string;
}

/** Warnings and errors the processes logged (pino JSON lines; anything else on stderr counts too), grouped by message. */
function logProblems(processes: readonly { role: string; process: GranaryProcess }[]): LogProblem[] {
  const groups = new Map<string, { role: string; level: string; message: string; count: number; example: string }>();
  for (const { role, process: child } of processes) {
    for (const line of child.output().split('\n')) {
      if (line.trim() === '') continue;
      let level: string;
      let message: string;
      try {
        const record = JSON.parse(line) as { level?: number; msg?: string };
        if ((record.level ?? 0) < PINO_WARN) continue;
        level = (record.level ?? 0) >= PINO_ERROR ? 'error' : 'warn';
        message = record.msg ?? '';
      } catch {
        level = 'stderr';
        message = line.slice(0, 120);
      }
      const key = `${role}\u0000${level}\u0000${message}`;
      const group = groups.get(key);
      if (group === undefined) groups.set(key, { role, level, message, count: 1, example: line.slice(0, LOG_EXAMPLE_CHARS) });
      else group.count++;
    }
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

async function saveLogs(dir: string, processes: readonly { role: string; process: GranaryProcess }[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await Promise.all(
    processes.map(({ role, process: child }, index) => {
      const nodeId = child.ready.nodeId;
      return writeFile(join(dir, `${String(index).padStart(2, '0')}-${typeof nodeId === 'string' ? nodeId : role}.log`), child.output());
    }),
  );
  console.log(`  process logs written to ${dir}`);
}

// ---------------------------------------------------------------- figures

export interface ForegroundRead extends ReadFigures {
  readonly cpu: CpuShare;
}

export interface ForegroundFigures {
  readonly victim: string;
  readonly shareOfHealthyReadBytes: number;
  readonly rateLimitBytesPerSecond: number;
  readonly tasksMax: number;
  readonly healthy: ForegroundRead;
  /** The node down, not yet declared dead: reads go around it, nothing is repaired. */
  readonly nodeDown: ForegroundRead & { readonly repairStartedDuringMeasurement: boolean };
  readonly duringRepair: ForegroundRead & {
    /** Share of the timed measurement during which repair tasks were running. */
    readonly overlapWithRepair: number;
    readonly repairRunningAtEnd: boolean;
  };
  readonly afterRepair: ForegroundRead;
  readonly duringRepairOverNodeDown: number;
  readonly duringRepairOverHealthy: number;
  readonly nodeDownOverHealthy: number;
  readonly afterRepairOverHealthy: number;
}

export interface ThroughputFigures {
  readonly timeline: RepairTimeline;
  readonly codec: Throughput;
  readonly disk: Throughput;
  readonly overCodec: number;
  readonly steadyOverCodec: number | null;
  readonly overDisk: number;
  readonly steadyOverDisk: number | null;
}

export interface RepairFigures {
  readonly settings: {
    readonly nodes: number;
    readonly domains: number;
    readonly ec: string;
    readonly heartbeatIntervalMs: number;
    readonly repairWindowBytes: number;
  };
  readonly table: { readonly rowsPerPartition: number; readonly partitions: number; readonly usefulBytes: number; readonly blocks: number };
  readonly foreground: ForegroundFigures;
  readonly recovery: RepairTimeline;
  readonly throughput: ThroughputFigures;
  readonly logProblems: readonly LogProblem[];
}

// ---------------------------------------------------------------- the benchmark

/** Liveness flags for a dead-after: suspect-after at its default, or half the dead-after if that is shorter. */
function livenessArgs(deadAfterMs: number): string[] {
  const suspectAfterMs = Math.min(SUSPECT_AFTER_MS_DEFAULT, Math.floor(deadAfterMs / 2));
  return ['--suspect-after-ms', String(suspectAfterMs), '--dead-after-ms', String(deadAfterMs)];
}

async function nodeArgs(cluster: Cluster, nodeId: string, index: number): Promise<string[]> {
  // As test/helpers/cluster.ts starts its nodes (a node token bound to its id), so a joining node is like the others.
  const credentials = await nodeCredentialArgs(cluster.metadata.url, cluster.adminToken, nodeId);
  return ['--metadata', cluster.metadata.url, '--domain', `rack-${index % DOMAINS}`, '--heartbeat-interval-ms', String(HEARTBEAT_INTERVAL_MS), ...credentials, '--reserve', '0'];
}

async function waitAlive(metadata: MetadataClient, count: number): Promise<void> {
  await pollUntil(`${count} storage nodes alive`, async () => ((await metadata.listNodes()).filter((node) => node.state === 'alive').length === count ? true : undefined), CLUSTER_CHANGE_DEADLINE_MS);
}

async function measuredRead(context: ReadContext, cluster: Cluster, expectedDigest: string | undefined): Promise<{ read: ForegroundRead; digest: string; endedAt: number }> {
  const before = await cpuSnapshot(cluster.metadata, cluster.nodes);
  const { figures, digest } = await measureRead(context, undefined, expectedDigest);
  const endedAt = Date.now();
  const after = await cpuSnapshot(cluster.metadata, cluster.nodes);
  return { read: { ...figures, cpu: cpuBetween(before, after) }, digest: digest.text(), endedAt };
}

/**
 * The scan healthy, then with the node it reads most from lost (before it is declared dead, while
 * repair runs at the cluster's configured rate, after full redundancy); returns the loss followed.
 */
async function foregroundPhase(
  cluster: Cluster,
  client: GranaryClient,
  monitor: MetadataClient,
  scale: Scale,
  seconds: number,
  losses: Loss[],
): Promise<{ foreground: ForegroundFigures; recovery: RepairTimeline }> {
  const context: ReadContext = { client, scale, seconds, expectedRows: scale.rowsPerPartition * jobPartitions(scale).length };
  const warmUntil = Date.now() + seconds * 1000;
  while (Date.now() < warmUntil) await scanOnce(context, undefined);
  const healthy = await measuredRead(context, cluster, undefined);
  const byBytes = Object.entries(healthy.read.bytesByNode).sort((a, b) => b[1] - a[1]);
  const totalReadBytes = byBytes.reduce((sum, [, bytes]) => sum + bytes, 0);
  const [victimId, victimBytes] = byBytes[0] ?? ['', 0];
  const victim = cluster.nodes.find((node) => node.nodeId === victimId);
  if (victim === undefined) throw new Error(`the healthy scan read from no known node (${victimId})`);

  const loss = await Loss.begin(cluster, monitor, victim);
  losses.push(loss);
  const nodeDown = await measuredRead(context, cluster, healthy.digest);
  const startedEarly = loss.progress().tasksStarted > 0 || loss.watch.latest()?.victim?.state === 'dead';
  await loss.awaitStart(cluster);
  const during = await measuredRead(context, cluster, healthy.digest);
  const active = loss.activeInterval();
  const measuredFrom = during.endedAt - during.read.seconds * 1000;
  const overlapMs = active === undefined ? 0 : Math.max(0, Math.min(during.endedAt, active.to) - Math.max(measuredFrom, active.from));
  const runningAtEnd = (loss.watch.latest()?.status.tasksRunning ?? 0) > 0;
  await loss.awaitFullRedundancy(cluster);
  const recovery = loss.timeline();
  const after = await measuredRead(context, cluster, healthy.digest);
  const settings = loss.baseline.settings;
  const foreground: ForegroundFigures = {
    victim: victim.nodeId,
    shareOfHealthyReadBytes: victimBytes / totalReadBytes,
    rateLimitBytesPerSecond: settings.rateBytesPerSecond,
    tasksMax: settings.tasksMax,
    healthy: healthy.read,
    nodeDown: { ...nodeDown.read, repairStartedDuringMeasurement: startedEarly },
    duringRepair: { ...during.read, overlapWithRepair: overlapMs / (during.read.seconds * 1000), repairRunningAtEnd: runningAtEnd },
    afterRepair: after.read,
    duringRepairOverNodeDown: during.read.usefulBytesPerSecond / nodeDown.read.usefulBytesPerSecond,
    duringRepairOverHealthy: during.read.usefulBytesPerSecond / healthy.read.usefulBytesPerSecond,
    nodeDownOverHealthy: nodeDown.read.usefulBytesPerSecond / healthy.read.usefulBytesPerSecond,
    afterRepairOverHealthy: after.read.usefulBytesPerSecond / healthy.read.usefulBytesPerSecond,
  };
  return { foreground, recovery };
}

/**
 * The first loss's node removed, the metadata service restarted with `rate` (no effective limit),
 * a fresh empty node joined in its place, the ceilings measured, then the node holding most
 * chunks lost and followed to full redundancy.
 */
async function throughputPhase(
  cluster: Cluster,
  monitor: MetadataClient,
  first: Loss,
  rate: number,
  quick: boolean,
  losses: Loss[],
  started: { role: string; process: GranaryProcess }[],
): Promise<ThroughputFigures> {
  await monitor.removeNode(first.victim.nodeId);
  await cluster.metadata.kill('SIGTERM');
  cluster.metadata = await startMetadataProcess(join(cluster.root, 'metadata'), [...livenessArgs(THROUGHPUT_DEAD_AFTER_MS), '--repair-rate', String(rate)], cluster.metadata.port);
  started.push({ role: 'metadata', process: cluster.metadata });
  const joinerId = `node-${NODES}`;
  const joiner = await startNodeProcess(join(cluster.root, joinerId), await nodeArgs(cluster, joinerId, NODES));
  cluster.nodes.push(joiner);
  started.push({ role: 'node', process: joiner });
  await waitAlive(monitor, NODES);
  const codec = await codecCeiling(quick ? 0.5 : 2);
  const disk = await fileWriteCeiling(cluster.root, quick ? DISK_CEILING_BYTES_QUICK : DISK_CEILING_BYTES);
  const holdings = await monitor.listNodes();
  const most = holdings.filter((node) => node.state === 'alive').sort((a, b) => b.chunksHeld - a.chunksHeld)[0];
  const victim = cluster.nodes.find((node) => node.nodeId === most?.nodeId);
  if (victim === undefined) throw new Error('no node to lose for the throughput phase');
  const loss = await Loss.begin(cluster, monitor, victim);
  losses.push(loss);
  await loss.awaitStart(cluster);
  await loss.awaitFullRedundancy(cluster);
  const timeline = loss.timeline();
  const steady = timeline.steadyBytesPerSecond;
  return {
    timeline,
    codec,
    disk,
    overCodec: timeline.bytesPerSecond / codec.bytesPerSecond,
    steadyOverCodec: steady === null ? null : steady / codec.bytesPerSecond,
    overDisk: timeline.bytesPerSecond / disk.bytesPerSecond,
    steadyOverDisk: steady === null ? null : steady / disk.bytesPerSecond,
  };
}

export async function benchRepair(options: RepairBenchOptions): Promise<RepairFigures> {
  const { scale, seconds, quick } = options;
  const deadAfterMs = options.deadAfterMs ?? (quick ? DEAD_AFTER_MS_QUICK : DEAD_AFTER_MS_DEFAULT);
  const metadataArgs = [
    ...livenessArgs(deadAfterMs),
    ...(options.foregroundRepairRate === undefined ? [] : ['--repair-rate', String(options.foregroundRepairRate)]),
    ...(options.foregroundTasksMax === undefined ? [] : ['--repair-tasks-max', String(options.foregroundTasksMax)]),
  ];
  const started: { role: string; process: GranaryProcess }[] = [];
  const losses: Loss[] = [];
  let cluster: Cluster | undefined;
  let client: GranaryClient | undefined;
  let monitor: GranaryClient | undefined;
  try {
    cluster = await startCluster({ nodes: NODES, domains: DOMAINS, metadataArgs, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS });
    started.push({ role: 'metadata', process: cluster.metadata }, ...cluster.nodes.map((node) => ({ role: 'node', process: node })));
    client = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
    // Its own connections, so sampling repair progress does not queue behind the scans' requests.
    monitor = new GranaryClient({ metadataUrl: cluster.metadata.url, token: cluster.adminToken });
    await client.metadata.createTable({ name: TABLE, columns: COLUMNS, partitionBy: ['ds'], ec: EC });
    const { written } = await writeTable(client, scale);
    const settings: RepairFigures['settings'] = { nodes: NODES, domains: DOMAINS, ec: EC, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, repairWindowBytes: REPAIR_WINDOW_BYTES };
    const table: RepairFigures['table'] = {
      rowsPerPartition: scale.rowsPerPartition,
      partitions: scale.partitions,
      usefulBytes: written.reduce((sum, w) => sum + w.commit.bytes, 0),
      blocks: (await monitor.metadata.repair(0)).blocks.total,
    };
    printSetup(settings, table);

    const { foreground, recovery } = await foregroundPhase(cluster, client, monitor.metadata, scale, seconds, losses);
    printForeground(foreground);
    printRecovery(recovery);
    const throughput = await throughputPhase(cluster, monitor.metadata, losses[0] as Loss, options.throughputRepairRate ?? THROUGHPUT_REPAIR_RATE_DEFAULT, quick, losses, started);
    printThroughput(throughput);
    const problems = logProblems(started);
    printLogProblems(problems);
    return { settings, table, foreground, recovery, throughput, logProblems: problems };
  } catch (error) {
    // What the processes said is usually the explanation.
    printLogProblems(logProblems(started));
    throw error;
  } finally {
    if (options.logsDir !== undefined) await saveLogs(options.logsDir, started);
    await Promise.all(losses.map((loss) => loss.watch.stop()));
    await client?.close();
    await monitor?.close();
    await cluster?.stop();
  }
}

// ---------------------------------------------------------------- report

const cores = (value: number | null): string => (value === null ? '-' : value.toFixed(2));
const orDash = (value: number | null, show: (v: number) => string): string => (value === null ? '-' : show(value));

function printSetup(settings: RepairFigures['settings'], table: RepairFigures['table']): void {
  printTable(`Repair: RS ${settings.ec} on ${settings.nodes} storage nodes (${settings.domains} failure domains), 2 repair slots each`, [
    ['table', `${table.partitions} partitions x ${table.rowsPerPartition} rows, ${mib(table.usefulBytes)} encoded in ${table.blocks} blocks`],
    ['settings', `heartbeat every ${settings.heartbeatIntervalMs} ms; rebuild window ${mib(settings.repairWindowBytes)} per shard`],
  ]);
}

/** How the metadata service kept up and whether any other node looked lost while repair ran. */
function sideNote(t: RepairTimeline): string {
  const latency = t.metadataLatencyMs;
  const others = t.otherNodesDown.length === 0 ? 'no other node late' : `OTHER NODES LATE OR DEAD: ${t.otherNodesDown.join(', ')}`;
  return `metadata answers: median ${latency.median} ms, p95 ${latency.p95} ms, max ${latency.max} ms; ${others}`;
}

function cpuNote(t: RepairTimeline): string {
  const cpu = t.cpuWhileActive;
  return (
    `while repair ran, cores busy: nodes ${cores(cpu.nodes)} (${t.nodeCpuSecondsPerMiB.toFixed(3)} CPU s per MiB rebuilt), metadata ${cores(cpu.metadata)}, ` +
    `client ${cores(cpu.client)}, others ${cores(cpu.other)}; some task waited for a CPU ${orDash(cpu.cpuPressure, (v) => pct(v, 1))} of the time`
  );
}

function printForeground(fg: ForegroundFigures): void {
  const row = (name: string, read: ForegroundRead, vsHealthy: number | null, vsDown: number | null): string[] => [
    name,
    String(read.scans),
    mbps(read.usefulBytesPerSecond),
    orDash(vsHealthy, (v) => ratio(v, 1)),
    orDash(vsDown, (v) => ratio(v, 1)),
    String(read.degradedReadsPerScan),
    cores(read.cpu.client),
    cores(read.cpu.nodes),
    cores(read.cpu.metadata),
    cores(read.cpu.other),
    orDash(read.cpu.cpuPressure, (v) => pct(v, 1)),
  ];
  printTable(
    `Foreground: the job's scan while ${fg.victim} (${pct(fg.shareOfHealthyReadBytes, 1)} of its reads) is rebuilt at --repair-rate ${mib(fg.rateLimitBytesPerSecond)}/s, ` +
      `--repair-tasks-max ${fg.tasksMax}; useful bytes/s; cores busy during each measurement, and the share of it some task waited for a CPU`,
    [
      ['case', 'scans', 'useful', 'vs healthy', 'vs node down', 'degraded reads/scan', 'client', 'nodes', 'metadata', 'others', 'cpu wait'],
      row('healthy', fg.healthy, 1, null),
      row(`node down, not yet dead: no repair${fg.nodeDown.repairStartedDuringMeasurement ? ' (REPAIR STARTED: raise --dead-after-ms)' : ''}`, fg.nodeDown, fg.nodeDownOverHealthy, 1),
      row(
        `node down, repair running (${pct(fg.duringRepair.overlapWithRepair, 1)} of the time${fg.duringRepair.repairRunningAtEnd ? ', still at the end' : ', ENDED BEFORE'})`,
        fg.duringRepair,
        fg.duringRepairOverHealthy,
        fg.duringRepairOverNodeDown,
      ),
      row('after full redundancy', fg.afterRepair, fg.afterRepairOverHealthy, null),
    ],
  );
}

function printRecovery(r: RepairTimeline): void {
  printTable(`Time to full redundancy after one node loss (default repair settings but --dead-after-ms ${r.deadAfterMs})`, [
    ['phase', 'seconds', ''],
    ['detection: SIGKILL -> declared dead', r.detectionSeconds.toFixed(1), 'the --dead-after-ms grace: a setting (10 min by default)'],
    [
      'repair: declared dead -> every block healthy',
      r.repairSeconds.toFixed(1),
      `${r.chunksLost} chunks, ${mib(r.bytesWritten)} rebuilt at ${mbps(r.bytesPerSecond)}; read ${mbps(r.readBytesPerSecond)} of the ${mbps(r.rateLimitBytesPerSecond)} limit; first task after ${r.firstTaskSeconds.toFixed(1)} s`,
    ],
    ['total', r.totalSeconds.toFixed(1), `tasks: ${r.counters.tasksDone} done, ${r.counters.tasksFailed} failed, ${r.counters.tasksExpired} expired; peak ${r.peakTasksRunning} running`],
    ['', '', sideNote(r)],
    ['', '', cpuNote(r)],
  ]);
}

function printThroughput(t: ThroughputFigures): void {
  const tl = t.timeline;
  printTable(
    `Repair throughput: ${tl.victim} lost (${tl.chunksLost} chunks, ${mib(tl.bytesLost)}), --repair-rate ${mib(tl.rateLimitBytesPerSecond)}/s, ` +
      `--repair-tasks-max ${tl.tasksMax}; rebuilt chunk bytes per second`,
    [
      ['case', 'rebuilt', 'seconds', 'throughput', 'vs codec', 'vs disk'],
      ['repair, declared dead -> full redundancy', mib(tl.bytesWritten), tl.repairSeconds.toFixed(2), mbps(tl.bytesPerSecond), ratio(t.overCodec, 1), ratio(t.overDisk, 1)],
      ['repair, steady (first -> last task report)', '', '', orDash(tl.steadyBytesPerSecond, mbps), orDash(t.steadyOverCodec, (v) => ratio(v, 1)), orDash(t.steadyOverDisk, (v) => ratio(v, 1))],
      [`codec: reconstructShards, 1 shard from ${POLICY.dataShards} windows of ${mib(REPAIR_WINDOW_BYTES)}, one core`, '', t.codec.seconds.toFixed(2), mbps(t.codec.bytesPerSecond), '1.00x', ''],
      [`file write + fsync of ${mib(t.disk.bytes)}, the data directories' file system`, '', t.disk.seconds.toFixed(2), mbps(t.disk.bytesPerSecond), '', '1.00x'],
    ],
  );
  console.log(
    `  read ${mbps(tl.readBytesPerSecond)} from sources; tasks running: peak ${tl.peakTasksRunning}, mean ${tl.meanTasksRunning.toFixed(1)}; ` +
      `tasks ${tl.counters.tasksDone} done, ${tl.counters.tasksFailed} failed, ${tl.counters.tasksExpired} expired`,
  );
  console.log(`  ${cpuNote(tl)}`);
  console.log(`  ${sideNote(tl)}`);
}

function printLogProblems(problems: readonly LogProblem[]): void {
  if (problems.length === 0) return;
  printTable(`Warnings and errors the processes logged: ${problems.reduce((sum, p) => sum + p.count, 0)} lines (the metadata restart between phases leaves nodes a few "unreachable" ticks)`, [
    ['process', 'level', 'count', 'message'],
    ...problems.slice(0, LOG_MESSAGES_PRINTED).map((p) => [p.role, p.level, String(p.count), p.message]),
  ]);
}

// ---------------------------------------------------------------- standalone

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...SCALE_OPTIONS,
      'dead-after-ms': { type: 'string' },
      'repair-rate': { type: 'string' },
      'repair-tasks-max': { type: 'string' },
      'throughput-repair-rate': { type: 'string' },
      logs: { type: 'string' },
    },
    strict: true,
  });
  const { quick, scaleFactor, scale } = scaleFromFlags(values);
  const seconds = quick ? 1 : 3;
  const deadAfterText = values['dead-after-ms'];
  const rateText = values['repair-rate'];
  const throughputRateText = values['throughput-repair-rate'];
  const options: RepairBenchOptions = {
    scale,
    seconds,
    quick,
    ...(deadAfterText === undefined ? {} : { deadAfterMs: positive('dead-after-ms', deadAfterText, DEAD_AFTER_MS_DEFAULT, true) }),
    ...(rateText === undefined ? {} : { foregroundRepairRate: parseByteSize(rateText) }),
    ...(values['repair-tasks-max'] === undefined ? {} : { foregroundTasksMax: positive('repair-tasks-max', values['repair-tasks-max'], 1, true) }),
    ...(throughputRateText === undefined ? {} : { throughputRepairRate: parseByteSize(throughputRateText) }),
    ...(values.logs === undefined ? {} : { logsDir: values.logs }),
  };
  console.log(
    `Granary repair bench: ${scale.partitions} partitions x ${scale.rowsPerPartition} rows (scale ${scaleFactor}${quick ? ', quick' : ''}), ` +
      `${seconds} s per scan measurement`,
  );
  const startedAt = new Date().toISOString();
  const repair = await benchRepair(options);
  const targets = repairTargets(repair);
  printTargets(targets);
  const results = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machineInfo(),
    scale: { ...scale, scaleFactor, quick, secondsPerMeasurement: seconds },
    repair,
    targets,
  };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/repair-${startedAt.replace(/[:.]/g, '-')}.json`, import.meta.url);
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nfigures written to ${file.pathname} (${((Date.parse(results.finishedAt) - Date.parse(startedAt)) / 1000).toFixed(0)} s)`);
}

const entry = process.argv[1];
if (entry !== undefined && (await realpath(entry).catch(() => entry)) === fileURLToPath(import.meta.url)) await main();
