/**
 * Readers report chunks they could not read, but a reader is not the node: a false report would
 * send healthy chunks to repair and make status call healthy data unavailable. So a reader's
 * claim is checked with the node that holds the chunk (its verify route, under an admin
 * capability) before it counts; a node's own reports (scrubber, inventory) are trusted as before.
 */
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { CAPABILITY_HEADER, blockOfChunk } from '../protocol/capability.js';
import { type CorruptChunkReport, GranaryError } from '../protocol/index.js';
import type { CapabilityIssuer } from './capabilities.js';
import type { MetadataState } from './state.js';
import { placedOn } from './nodes.js';

/** Chunks one reader report may name: a reader reports what one read could not get. */
export const READER_REPORT_CHUNKS_MAX = 64;
/** Verify calls in flight per report. */
const VERIFIES_IN_FLIGHT = 4;
const VERIFY_TIMEOUT_MS = 30_000;

export interface ReportVerifierOptions {
  readonly state: MetadataState;
  readonly capabilities: CapabilityIssuer;
  /** Carries the calls (one trusting the cluster's CA under TLS); default undici's global agent. */
  readonly dispatcher?: Dispatcher;
}

/**
 * The part of a reader's report its node confirms: `missing` claims the node answers 404 for,
 * corrupt claims whose verification fails, or whose intact-looking bytes are not those the
 * commit recorded (a node that checksummed already-wrong bytes passes its own verify; only the
 * shard checksum in the catalog tells). Chunks the catalog does not place on that node, or of
 * tables outside `tables` (the reader's scope; undefined: all), are dropped unasked.
 */
export async function confirmReaderReport(
  options: ReportVerifierOptions,
  nodeId: string,
  report: CorruptChunkReport,
  tables: ReadonlySet<string> | undefined,
): Promise<CorruptChunkReport> {
  if (report.chunks.length > READER_REPORT_CHUNKS_MAX) {
    throw new GranaryError('GRN_BAD_REQUEST', `a reader's report names at most ${READER_REPORT_CHUNKS_MAX} chunks; send several`);
  }
  const { state } = options;
  const node = state.nodes.get(nodeId);
  if (node === undefined) return { chunks: [] };
  // Table ids the reader may touch, found once per report rather than per chunk.
  const tableIds = tables === undefined ? undefined : new Set([...tables].flatMap((name) => state.tablesByName.get(name)?.id ?? []));
  const candidates = report.chunks.filter((chunk) => placedOn(state, chunk.chunkId, nodeId) && inScope(state, chunk.chunkId, tableIds));
  const confirmed: CorruptChunkReport['chunks'][number][] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < candidates.length) {
      const chunk = candidates[next++] as CorruptChunkReport['chunks'][number];
      const expected = shardChecksumOf(state, chunk.chunkId);
      if (await nodeConfirms(options, node.url, nodeId, chunk.chunkId, chunk.missing === true, expected)) confirmed.push(chunk);
    }
  };
  await Promise.all(Array.from({ length: Math.min(VERIFIES_IN_FLIGHT, candidates.length) }, lane));
  return { chunks: confirmed };
}

/** The xxh64 (hex) the commit recorded for this shard; undefined for blocks from before it was. */
function shardChecksumOf(state: MetadataState, chunkId: string): string | undefined {
  return state.blocks.get(blockOfChunk(chunkId))?.shardChecksums?.[Number(chunkId.slice(chunkId.lastIndexOf('.') + 1))];
}

function inScope(state: MetadataState, chunkId: string, tableIds: ReadonlySet<string> | undefined): boolean {
  if (tableIds === undefined) return true;
  const block = state.blocks.get(blockOfChunk(chunkId));
  return block !== undefined && tableIds.has(block.tableId);
}

/** Whether the node itself says the chunk is missing (404) or rotten (verify not ok). An unreachable node confirms nothing. */
async function nodeConfirms(
  options: ReportVerifierOptions,
  url: string,
  nodeId: string,
  chunkId: string,
  missing: boolean,
  expectedChecksum: string | undefined,
): Promise<boolean> {
  const ask = async (method: 'POST' | 'GET', path: string): Promise<{ status: number; body: Record<string, unknown> | undefined }> => {
    const response = await request(`${url}/v1/chunks/${encodeURIComponent(chunkId)}${path}`, {
      method,
      headers: { [CAPABILITY_HEADER]: options.capabilities.admin(nodeId).capability },
      headersTimeout: VERIFY_TIMEOUT_MS,
      bodyTimeout: VERIFY_TIMEOUT_MS,
      ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      return { status: response.statusCode, body: undefined };
    }
    return { status: 200, body: (await response.body.json()) as Record<string, unknown> };
  };
  try {
    const verified = await ask('POST', '/verify');
    if (verified.status === 404) return missing;
    if (verified.status !== 200 || missing) return false;
    if (verified.body?.ok === false) return true;
    if (expectedChecksum === undefined) return false;
    const info = await ask('GET', '/info');
    return info.status === 200 && typeof info.body?.checksum === 'string' && info.body.checksum !== expectedChecksum;
  } catch {
    // Unreachable: the node's own heartbeats, scrubber and inventory decide, not a reader.
    return false;
  }
}
