/** `granary status`, `granary node …`, `granary repair …`, `granary stats`, `granary fsck`. */
import { CAPABILITY_HEADER } from '../../protocol/capability.js';
import { Command } from 'commander';
import { Agent, type Dispatcher, fetch } from 'undici';
import { transportError } from '../../protocol/tls.js';
import { consoleUrl } from '../../protocol/metadata-endpoints.js';
import { GranaryError, type NodeInfo, type PlannedBlock, type RepairStatus } from '../../protocol/index.js';
import { Semaphore } from '../reader/semaphore.js';
import { PAGE_LIMIT_MAX } from '../../protocol/page-types.js';
import { formatBytes, printJson, printTable, withClient } from './context.js';
import { Progress, addProgressOption, progressMode } from './progress.js';
import { type PageFlags, addPageOptions, onePage, printNextHint } from './page-flags.js';

export function statusCommand(): Command {
  return new Command('status').description('cluster health at a glance').action(async (_flags: unknown, command: Command) => {
    await withClient(command, async (client, { json }) => {
      const [health, nodes, tables, repair] = await Promise.all([
        client.metadata.health(),
        client.metadata.listNodes(),
        client.metadata.listTables(),
        client.metadata.repair(0),
      ]);
      const capacity = nodes.reduce((sum, n) => sum + n.capacityBytes, 0);
      const used = nodes.reduce((sum, n) => sum + n.usedBytes, 0);
      const { blocks } = repair;
      // Counted from the node list, which any replica forwards to the leader: a follower's own
      // /health carries no counts.
      const count = (state: string): number => nodes.filter((node) => node.state === state).length;
      const nodeCounts = { total: nodes.length, alive: count('alive'), suspect: count('suspect'), dead: count('dead'), draining: count('draining') };
      const summary = {
        metadata: client.metadata.url,
        console: consoleUrl(client.metadata.url),
        ...(health.role === undefined ? {} : { role: health.role, leader: health.leader ?? null, store: health.store }),
        nodes: nodeCounts,
        capacityBytes: capacity,
        usedBytes: used,
        tables: tables.length,
        partitions: tables.reduce((sum, t) => sum + t.partitions, 0),
        rows: tables.reduce((sum, t) => sum + t.rows, 0),
        // `degraded` is the older name of `underReplicated`, kept for scripts.
        blocks: { ...blocks, degraded: blocks.underReplicated },
        repair: repairProgress(repair),
      };
      if (json) return printJson(summary);
      const state =
        blocks.unavailable > 0
          ? 'DATA UNAVAILABLE'
          : blocks.underReplicated > blocks.waitingForNodes
            ? 'UNDER-REPLICATED (repairing)'
            : blocks.underReplicated > 0
              ? 'UNDER-REPLICATED (add nodes to restore full redundancy)'
              : 'HEALTHY';
      process.stdout.write(
        `cluster ${state}  metadata ${summary.metadata}${health.role === 'follower' ? ` (follower; leader ${health.leader ?? 'being elected'})` : ''}\n` +
          `nodes     ${nodeCounts.alive} alive, ${nodeCounts.suspect} suspect, ${nodeCounts.dead} dead, ${nodeCounts.draining} draining (${nodeCounts.total} total)\n` +
          `capacity  ${formatBytes(used)} used of ${formatBytes(capacity)}\n` +
          `data      ${summary.tables} tables, ${summary.partitions} partitions, ${summary.rows} rows\n` +
          `blocks    ${blocks.healthy} healthy, ${blocks.underReplicated} under-replicated${waiting(blocks.waitingForNodes)}, ${blocks.unavailable} unavailable` +
          `${blocks.moving > 0 ? `, ${blocks.moving} moving off draining nodes` : ''}\n` +
          `repair    ${describeProgress(repair)}\n` +
          `console   ${summary.console}\n`,
      );
    });
  });
}

interface RepairProgress {
  readonly tasksRunning: number;
  readonly bytesQueued: number;
  readonly bytesPerSecond: number;
  readonly etaSeconds: number | null;
  readonly shardsRestored: number;
  readonly bytesRestored: number;
  readonly tasksFailed: number;
}

function repairProgress(status: RepairStatus): RepairProgress {
  return {
    tasksRunning: status.tasksRunning,
    bytesQueued: status.bytesQueued,
    bytesPerSecond: status.recentBytesPerSecond,
    etaSeconds: status.etaSeconds,
    shardsRestored: status.counters.shardsRestored,
    bytesRestored: status.counters.bytesWritten,
    tasksFailed: status.counters.tasksFailed + status.counters.tasksExpired,
  };
}

function describeProgress(status: RepairStatus): string {
  const p = repairProgress(status);
  if (p.bytesQueued === 0 && p.tasksRunning === 0) return `idle; ${p.shardsRestored} shards (${formatBytes(p.bytesRestored)}) restored since the metadata service started`;
  const eta = p.etaSeconds === null ? 'ETA unknown' : `ETA ${formatDuration(p.etaSeconds)}`;
  return `${formatBytes(p.bytesQueued)} to restore, ${p.tasksRunning} tasks running, ${formatBytes(p.bytesPerSecond)}/s, ${eta}; ${p.shardsRestored} shards restored, ${p.tasksFailed} tasks failed or expired`;
}

function waiting(blocks: number): string {
  return blocks > 0 ? ` (${blocks} with shards doubled up, waiting for more nodes to spread them)` : '';
}

function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

export function repairCommand(): Command {
  const repair = new Command('repair').description('restoring redundancy after node and disk losses');
  repair
    .command('status')
    .description('blocks by health, repair progress, and the most endangered blocks')
    .option('--limit <n>', `blocks to list (0..${PAGE_LIMIT_MAX})`, (text) => Number(text), 20)
    .option('--after <cursor>', 'list the blocks after this queue position (the `next` a page before printed)')
    .action(async (flags: { limit: number; after?: string }, command: Command) => {
      await withClient(command, async (client, { json }) => {
        if (!Number.isInteger(flags.limit) || flags.limit < 0 || flags.limit > PAGE_LIMIT_MAX) throw new GranaryError('GRN_BAD_REQUEST', `--limit must be a whole number 0..${PAGE_LIMIT_MAX}`);
        const status = await client.metadata.repair(flags.limit, flags.after);
        if (json) return printJson(status);
        const { blocks, settings } = status;
        process.stdout.write(
          `blocks    ${blocks.total} total: ${blocks.healthy} healthy, ${blocks.underReplicated} under-replicated${waiting(blocks.waitingForNodes)}, ${blocks.unavailable} unavailable, ${blocks.moving} moving\n` +
            `repair    ${describeProgress(status)}\n` +
            `settings  rate ${formatBytes(settings.rateBytesPerSecond)}/s, ${settings.tasksMax} tasks at once, nodes dead after ${formatDuration(Math.round(settings.deadAfterMs / 1000))} of silence\n`,
        );
        if (status.items.length > 0) {
          printTable(
            ['BLOCK', 'TABLE', 'STATUS', 'READABLE', 'SPARE', 'SHARDS TO RESTORE', 'TASK'],
            status.items.map((item) => [
              item.blockId,
              item.table,
              item.status,
              `${item.healthyShards}/${item.dataShards + item.parityShards}`,
              item.nodeFailuresToSpare,
              item.badShards.map((bad) => `${bad.shard}@${bad.nodeId} (${bad.reason})`).join(', '),
              item.taskId ?? '',
            ]),
          );
        }
        printNextHint(status.next);
      });
    });
  addProgressOption(repair.command('wait'))
    .description('wait until repair has restored every block it can (and drains have moved theirs); exit 1 if some cannot be read')
    .option('--timeout <seconds>', 'give up after this long (default 24 h)', (text) => Number(text))
    .action(async (flags: { timeout?: number; progress?: boolean }, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const timeoutMs = flags.timeout === undefined ? REPAIR_WAIT_MS_DEFAULT : flags.timeout * 1000;
        if (!(timeoutMs > 0)) throw new GranaryError('GRN_BAD_REQUEST', '--timeout must be a positive number of seconds');
        const deadline = Date.now() + timeoutMs;
        let status = await client.metadata.repair(0);
        const restoredBefore = status.counters.bytesWritten;
        const bar = new Progress({ label: 'repair', unit: 'bytes', mode: progressMode({ json, progress: flags.progress }) });
        try {
          while (repairLeft(status)) {
            if (Date.now() > deadline) throw new GranaryError('GRN_UNAVAILABLE', `repair is not done after ${timeoutMs / 1000} s: ${describeProgress(status)}; see granary repair status`);
            const restored = Math.max(0, status.counters.bytesWritten - restoredBefore);
            // The queue grows when more is lost meanwhile: the total is what is done plus what is left.
            bar.setTotal(restored + status.bytesQueued);
            bar.update(restored, `${status.blocks.underReplicated} under-replicated, ${status.blocks.moving} moving, ${status.tasksRunning} tasks`);
            await new Promise((done) => setTimeout(done, REPAIR_POLL_MS));
            status = await client.metadata.repair(0);
          }
          bar.finish();
        } catch (error) {
          bar.interrupt();
          throw error;
        }
        if (json) printJson(status);
        else process.stdout.write(`blocks    ${status.blocks.total} total: ${status.blocks.healthy} healthy, ${status.blocks.underReplicated} under-replicated${waiting(status.blocks.waitingForNodes)}, ${status.blocks.unavailable} unavailable\nrepair    ${describeProgress(status)}\n`);
        if (status.blocks.unavailable > 0) throw new GranaryError('GRN_DATA_UNAVAILABLE', `${status.blocks.unavailable} blocks cannot be read: more shards are lost than parity restores; see granary repair status`);
      });
    });
  return repair;
}

/** How long `repair wait` waits by default, and how often it looks. */
const REPAIR_WAIT_MS_DEFAULT = 24 * 60 * 60_000;
const REPAIR_POLL_MS = 1_000;

/**
 * Whether repair still has work it can do: shards queued or being written, blocks short of shards
 * (other than those only waiting for more nodes to spread onto), or shards on draining nodes.
 * Unavailable blocks are not waited for: nothing can restore them.
 */
function repairLeft(status: RepairStatus): boolean {
  const { blocks } = status;
  return status.bytesQueued > 0 || status.tasksRunning > 0 || blocks.moving > 0 || blocks.underReplicated - blocks.waitingForNodes > 0;
}

/** How long `node drain --wait` waits by default, and how often it looks. */
const DRAIN_WAIT_MS_DEFAULT = 24 * 60 * 60_000;
const DRAIN_POLL_MS = 1_000;

export function nodeCommand(): Command {
  const node = new Command('node').description('list, drain, undrain and remove storage nodes');
  addPageOptions(node.command('list'), 'nodes').action(async (flags: PageFlags, command: Command) => {
    await withClient(command, async (client, { json }) => {
      const page = onePage(flags) ? await client.metadata.nodesPage(flags) : undefined;
      const nodes = page?.nodes ?? (await client.metadata.listNodes());
      if (json) return printJson(page ?? nodes);
      printTable(
        ['NODE', 'STATE', 'DOMAIN', 'URL', 'CHUNKS', 'NEEDED', 'USED', 'FREE', 'LAST HEARTBEAT'],
        nodes.map((n: NodeInfo) => [
          n.nodeId,
          n.draining && n.state !== 'draining' ? `${n.state} (draining)` : n.state,
          n.domain,
          n.url,
          n.chunkCount,
          n.chunksHeld,
          formatBytes(n.usedBytes),
          formatBytes(n.freeBytes),
          n.lastHeartbeatAt,
        ]),
      );
      printNextHint(page?.next ?? null);
    });
  });
  addProgressOption(node.command('drain <node>'))
    .description('stop placing chunks on a node and copy every chunk it holds to other nodes')
    .option('--wait', 'return only when the node holds nothing the catalog needs')
    .option('--timeout <seconds>', 'with --wait: give up after this long', (text) => Number(text))
    .option('--undo', 'put a draining node back in service (same as `node undrain`)')
    .action(async (id: string, flags: { wait?: boolean; timeout?: number; undo?: boolean; progress?: boolean }, command: Command) => {
      await withClient(command, async (client, { json }) => {
        if (flags.undo === true) return reportNode(await client.metadata.undrainNode(id), json);
        let info = await client.metadata.drainNode(id);
        if (flags.wait === true) {
          const timeoutMs = flags.timeout === undefined ? DRAIN_WAIT_MS_DEFAULT : flags.timeout * 1000;
          if (!(timeoutMs > 0)) throw new GranaryError('GRN_BAD_REQUEST', '--timeout must be a positive number of seconds');
          const deadline = Date.now() + timeoutMs;
          const toMove = info.chunksHeld;
          const bar = new Progress({ label: `drain ${id}`, unit: { noun: 'chunks' }, total: toMove, mode: progressMode({ json, progress: flags.progress }) });
          try {
            while (info.chunksHeld > 0) {
              if (Date.now() > deadline) {
                throw new GranaryError('GRN_UNAVAILABLE', `node ${id} still holds ${info.chunksHeld} chunks the catalog needs after ${timeoutMs / 1000} s; see granary repair status`);
              }
              bar.update(Math.max(0, toMove - info.chunksHeld), `${info.chunksHeld.toLocaleString('en-US')} to move`);
              await new Promise((done) => setTimeout(done, DRAIN_POLL_MS));
              info = (await client.metadata.listNodes()).find((n) => n.nodeId === id) ?? info;
            }
            bar.update(toMove, 'none left');
            bar.finish();
          } catch (error) {
            bar.interrupt();
            throw error;
          }
        }
        reportNode(info, json);
      });
    });
  node
    .command('undrain <node>')
    .description('put a draining node back in service')
    .action(async (id: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client, { json }) => reportNode(await client.metadata.undrainNode(id), json));
    });
  node
    .command('remove <node>')
    .description('forget a drained or dead node (refused while the catalog needs chunks only it can give)')
    .action(async (id: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const result = await client.metadata.removeNode(id);
        if (json) return printJson(result);
        process.stdout.write(
          `node ${result.nodeId} removed${result.blocksToRebuild > 0 ? `; ${result.blocksToRebuild} blocks will be rebuilt from their other shards` : ''}\n`,
        );
      });
    });
  return node;
}

function reportNode(info: NodeInfo, json: boolean): void {
  if (json) printJson(info);
  else process.stdout.write(`node ${info.nodeId} is ${info.state}${info.draining ? `, draining: ${info.chunksHeld} chunks still needed there` : ''}\n`);
}

export function statsCommand(): Command {
  return new Command('stats')
    .description('bytes, rows, partitions and column popularity of a table')
    .argument('<table>')
    .action(async (table: string, _flags: unknown, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const [partitions, popularity] = await Promise.all([client.metadata.listPartitions(table), client.metadata.popularity(table)]);
        const stats = {
          table,
          partitions: partitions.length,
          rows: partitions.reduce((sum, p) => sum + p.rows, 0),
          // Stored (encoded, compressed) stream bytes before erasure coding, and the same
          // streams in the plain layout.
          bytes: partitions.reduce((sum, p) => sum + p.bytes, 0),
          rawBytes: partitions.reduce((sum, p) => sum + (p.rawBytes ?? p.bytes), 0),
          files: partitions.reduce((sum, p) => sum + p.files, 0),
          stripes: partitions.reduce((sum, p) => sum + p.stripes, 0),
          popularity: popularity.columns,
          jobs: popularity.jobs,
        };
        if (json) return printJson(stats);
        const ratio = stats.bytes > 0 ? ` (${(stats.rawBytes / stats.bytes).toFixed(2)}x smaller than ${formatBytes(stats.rawBytes)} plain)` : '';
        process.stdout.write(`${table}: ${stats.partitions} partitions, ${stats.rows} rows, ${formatBytes(stats.bytes)}${ratio} in ${stats.files} files, ${stats.stripes} stripes\n`);
        // Decayed figures: bytes read long ago weigh less (the service's --popularity-half-life).
        printTable(['COLUMN', 'FEATURE', 'READ (DECAYED)', 'SCANS'], popularity.columns.map((c) => [c.column, c.featureId ?? '', formatBytes(c.bytes), c.scans]));
        if (popularity.jobs.length > 0) {
          process.stdout.write('\n');
          printTable(['JOB', 'READ', 'EPOCHS', 'LAST SEEN'], popularity.jobs.map((j) => [j.job, formatBytes(j.bytes), j.scans, j.lastAt]));
        }
      });
    });
}

type FsckStatus = 'healthy' | 'under-replicated' | 'unavailable';

interface FsckBlock {
  readonly blockId: string;
  readonly status: FsckStatus;
  readonly bad: readonly { shard: number; chunkId: string; nodeId: string; problem: string }[];
}

/** Chunks verified at once, so fsck of a large cluster does not flood every node. */
const FSCK_CHUNKS_IN_FLIGHT = 16;

/** `capability`: the block's read capability from the block listing, which opens verify. */
async function checkChunk(url: string, chunkId: string, capability: string | undefined, dispatcher: Dispatcher): Promise<string | undefined> {
  if (url === '') return 'node removed';
  try {
    const response = await fetch(`${url}/v1/chunks/${chunkId}/verify`, {
      method: 'POST',
      signal: AbortSignal.timeout(60_000),
      dispatcher,
      ...(capability === undefined ? {} : { headers: { [CAPABILITY_HEADER]: capability } }),
    });
    const body = (await response.json()) as { ok?: boolean; reason?: string; code?: string; message?: string };
    if (response.status === 404) return 'missing';
    if (!response.ok) return body.message ?? `HTTP ${response.status}`;
    return body.ok === true ? undefined : `corrupt: ${body.reason ?? 'failed verification'}`;
  } catch (error) {
    const failure = transportError(error, `verifying ${chunkId}`, url);
    return failure.code === 'GRN_TLS_UNTRUSTED' ? failure.message : `node unreachable: ${(error as Error).message}`;
  }
}

/** Verifies every chunk of a block where the catalog places it. */
async function checkBlock(block: PlannedBlock, slots: Semaphore, dispatcher: Dispatcher): Promise<FsckBlock> {
  const problems = await Promise.all(block.chunks.map((chunk) => slots.run(() => checkChunk(chunk.url, chunk.chunkId, block.capability, dispatcher))));
  const bad = block.chunks.flatMap((chunk, i) => (problems[i] === undefined ? [] : [{ shard: chunk.shard, chunkId: chunk.chunkId, nodeId: chunk.nodeId, problem: problems[i] as string }]));
  // Two shards on one node are readable, but one node's loss takes both: short of full redundancy.
  const shared = new Set(block.chunks.map((chunk) => chunk.nodeId)).size < block.chunks.length;
  const healthy = block.chunks.length - bad.length;
  const status: FsckStatus = healthy < block.dataShards ? 'unavailable' : bad.length > 0 || shared ? 'under-replicated' : 'healthy';
  return { blockId: block.blockId, status, bad };
}

export function fsckCommand(): Command {
  return addProgressOption(new Command('fsck'))
    .description('check that every chunk of every block exists and verifies')
    .argument('[table]', 'one table (default: all)')
    .action(async (only: string | undefined, flags: { progress?: boolean }, command: Command) => {
      await withClient(command, async (client, { json, tlsCa }) => {
        const tables = only === undefined ? (await client.metadata.listTables()).map((t) => t.name) : [only];
        const results: (FsckBlock & { table: string })[] = [];
        const slots = new Semaphore(FSCK_CHUNKS_IN_FLIGHT);
        const mode = progressMode({ json, progress: flags.progress });
        // The cluster's block count is at hand; one table's is not (its blocks are paged through).
        const total = mode === 'off' || only !== undefined ? undefined : (await client.metadata.repair(0)).blocks.total;
        const bar = new Progress({ label: `fsck ${only ?? 'all tables'}`, unit: { noun: 'blocks' }, mode, ...(total === undefined ? {} : { total }) });
        let checked = 0;
        let problems = 0;
        // Nodes' certificates are verified against the same CA as the metadata service's.
        const agent = new Agent(tlsCa === undefined ? {} : { connect: { ca: tlsCa } });
        try {
          for (const table of tables) {
            let after: string | undefined;
            do {
              const page = await client.metadata.listBlocks({ table, ...(after === undefined ? {} : { after }) });
              const checks = page.blocks.map(async (block) => {
                const result = await checkBlock(block, slots, agent);
                checked++;
                if (result.status !== 'healthy') problems++;
                bar.update(checked, `${problems} with problems`);
                return result;
              });
              for (const result of await Promise.all(checks)) results.push({ ...result, table });
              after = page.next ?? undefined;
            } while (after !== undefined);
          }
          bar.finish();
        } catch (error) {
          bar.interrupt();
          throw error;
        } finally {
          await agent.close();
        }
        const counts = { healthy: 0, underReplicated: 0, unavailable: 0 };
        for (const result of results) {
          if (result.status === 'healthy') counts.healthy++;
          else if (result.status === 'under-replicated') counts.underReplicated++;
          else counts.unavailable++;
        }
        // `degraded` is the older name of `underReplicated`, kept for scripts.
        if (json) printJson({ ...counts, degraded: counts.underReplicated, blocks: results.filter((r) => r.status !== 'healthy') });
        else {
          process.stdout.write(`${results.length} blocks: ${counts.healthy} healthy, ${counts.underReplicated} under-replicated (repairable), ${counts.unavailable} unavailable\n`);
          const rows = results.flatMap((r) => r.bad.map((b) => [r.table, r.blockId, r.status, b.chunkId, b.nodeId, b.problem]));
          if (rows.length > 0) printTable(['TABLE', 'BLOCK', 'STATUS', 'CHUNK', 'NODE', 'PROBLEM'], rows);
        }
        if (counts.unavailable > 0) throw new GranaryError('GRN_DATA_UNAVAILABLE', `${counts.unavailable} blocks cannot be read`);
        if (counts.underReplicated > 0) process.exitCode = 2;
      });
    });
}
