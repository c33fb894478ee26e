/** `granary status`, `granary node …`, `granary stats`, `granary fsck`. */
import { Command } from 'commander';
import { GranaryError, type NodeInfo, type PlannedBlock } from '../../protocol/index.js';
import { formatBytes, printJson, printTable, withClient } from './context.js';

export function statusCommand(): Command {
  return new Command('status').description('cluster health at a glance').action(async (_flags: unknown, command: Command) => {
    await withClient(command, async (client, { json }) => {
      const [health, nodes, tables, repair] = await Promise.all([
        client.metadata.health(),
        client.metadata.listNodes(),
        client.metadata.listTables(),
        client.metadata.repair(),
      ]);
      const capacity = nodes.reduce((sum, n) => sum + n.capacityBytes, 0);
      const used = nodes.reduce((sum, n) => sum + n.usedBytes, 0);
      const degraded = repair.blocks.filter((b) => b.status === 'degraded').length;
      const unavailable = repair.blocks.filter((b) => b.status === 'unavailable').length;
      const summary = {
        metadata: client.metadata.url,
        nodes: health.nodes,
        capacityBytes: capacity,
        usedBytes: used,
        tables: tables.length,
        partitions: tables.reduce((sum, t) => sum + t.partitions, 0),
        rows: tables.reduce((sum, t) => sum + t.rows, 0),
        blocks: { total: health.blocks, healthy: health.blocks - degraded - unavailable, degraded, unavailable },
      };
      if (json) return printJson(summary);
      const state = unavailable > 0 ? 'DATA UNAVAILABLE' : degraded > 0 || health.nodes.dead > 0 ? 'DEGRADED' : 'HEALTHY';
      process.stdout.write(
        `cluster ${state}  metadata ${summary.metadata}\n` +
          `nodes     ${health.nodes.alive} alive, ${health.nodes.suspect} suspect, ${health.nodes.dead} dead, ${health.nodes.draining} draining (${health.nodes.total} total)\n` +
          `capacity  ${formatBytes(used)} used of ${formatBytes(capacity)}\n` +
          `data      ${summary.tables} tables, ${summary.partitions} partitions, ${summary.rows} rows\n` +
          `blocks    ${summary.blocks.healthy} healthy, ${degraded} degraded, ${unavailable} unavailable\n`,
      );
    });
  });
}

export function nodeCommand(): Command {
  const node = new Command('node').description('list and drain storage nodes');
  node.command('list').action(async (_flags: unknown, command: Command) => {
    await withClient(command, async (client, { json }) => {
      const nodes = await client.metadata.listNodes();
      if (json) return printJson(nodes);
      printTable(
        ['NODE', 'STATE', 'DOMAIN', 'URL', 'CHUNKS', 'USED', 'FREE', 'LAST HEARTBEAT'],
        nodes.map((n: NodeInfo) => [n.nodeId, n.state, n.domain, n.url, n.chunkCount, formatBytes(n.usedBytes), formatBytes(n.freeBytes), n.lastHeartbeatAt]),
      );
    });
  });
  node
    .command('drain <node>')
    .description('stop placing chunks on a node and list its blocks for repair')
    .option('--undo', 'put a draining node back in service')
    .action(async (id: string, flags: { undo?: boolean }, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const info = flags.undo === true ? await client.metadata.undrainNode(id) : await client.metadata.drainNode(id);
        if (json) printJson(info);
        else process.stdout.write(`node ${info.nodeId} is ${info.state}\n`);
      });
    });
  return node;
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
          bytes: partitions.reduce((sum, p) => sum + p.bytes, 0),
          files: partitions.reduce((sum, p) => sum + p.files, 0),
          stripes: partitions.reduce((sum, p) => sum + p.stripes, 0),
          popularity: popularity.columns,
        };
        if (json) return printJson(stats);
        process.stdout.write(`${table}: ${stats.partitions} partitions, ${stats.rows} rows, ${formatBytes(stats.bytes)} in ${stats.files} files, ${stats.stripes} stripes\n`);
        printTable(['COLUMN', 'FEATURE', 'SCANS'], popularity.columns.map((c) => [c.column, c.featureId ?? '', c.scans]));
      });
    });
}

interface FsckBlock {
  readonly blockId: string;
  readonly table: string;
  readonly status: 'healthy' | 'degraded' | 'unavailable';
  readonly bad: readonly { shard: number; chunkId: string; nodeId: string; problem: string }[];
}

async function checkChunk(url: string, chunkId: string): Promise<string | undefined> {
  try {
    const response = await fetch(`${url}/v1/chunks/${chunkId}/verify`, { method: 'POST', signal: AbortSignal.timeout(60_000) });
    const body = (await response.json()) as { ok?: boolean; reason?: string; code?: string; message?: string };
    if (response.status === 404) return 'missing';
    if (!response.ok) return body.message ?? `HTTP ${response.status}`;
    return body.ok === true ? undefined : `corrupt: ${body.reason ?? 'failed verification'}`;
  } catch (error) {
    return `node unreachable: ${(error as Error).message}`;
  }
}

export function fsckCommand(): Command {
  return new Command('fsck')
    .description('check that every chunk of every block exists and verifies')
    .argument('[table]', 'one table (default: all)')
    .action(async (only: string | undefined, _flags: unknown, command: Command) => {
      await withClient(command, async (client, { json }) => {
        const tables = only === undefined ? (await client.metadata.listTables()).map((t) => t.name) : [only];
        const results: FsckBlock[] = [];
        for (const table of tables) {
          const plan = await client.metadata.plan(table, {});
          for (const block of plan.blocks as readonly PlannedBlock[]) {
            const problems = await Promise.all(block.chunks.map((chunk) => checkChunk(chunk.url, chunk.chunkId)));
            const bad = block.chunks.flatMap((chunk, i) => (problems[i] === undefined ? [] : [{ shard: chunk.shard, chunkId: chunk.chunkId, nodeId: chunk.nodeId, problem: problems[i] as string }]));
            const healthy = block.chunks.length - bad.length;
            results.push({ blockId: block.blockId, table, status: bad.length === 0 ? 'healthy' : healthy >= block.dataShards ? 'degraded' : 'unavailable', bad });
          }
        }
        const counts = { healthy: 0, degraded: 0, unavailable: 0 };
        for (const result of results) counts[result.status]++;
        if (json) printJson({ ...counts, blocks: results.filter((r) => r.status !== 'healthy') });
        else {
          process.stdout.write(`${results.length} blocks: ${counts.healthy} healthy, ${counts.degraded} degraded, ${counts.unavailable} unavailable\n`);
          const rows = results.flatMap((r) => r.bad.map((b) => [r.table, r.blockId, r.status, b.chunkId, b.nodeId, b.problem]));
          if (rows.length > 0) printTable(['TABLE', 'BLOCK', 'STATUS', 'CHUNK', 'NODE', 'PROBLEM'], rows);
        }
        if (counts.unavailable > 0) throw new GranaryError('GRN_DATA_UNAVAILABLE', `${counts.unavailable} blocks cannot be read`);
        if (counts.degraded > 0) process.exitCode = 2;
      });
    });
}
