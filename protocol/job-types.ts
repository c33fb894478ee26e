/**
 * Per-job read accounting (docs/design.md, "Jobs"): what each reading job asked for and what it
 * cost, so an operator can see which jobs read what, at what amplification, and which suffer.
 *
 *   POST /v1/tables/:name/reads    JobReadReport (a reader's counts since its last report) -> 204
 *   GET  /v1/jobs[?limit=N]        -> JobList: recent jobs, most recently seen first (admin)
 *   GET  /v1/jobs/:job             -> JobDetail (404 GRN_JOB_NOT_FOUND) (admin)
 *
 * Storage nodes add what they served per job with their heartbeats (NodeJobCounts), from the job
 * readers name in every batch read (BatchReadRequest.job). Kept by the metadata service in
 * bounded memory: the most recent jobs, each forgotten a retention time after it was last seen.
 */

/** Jobs listed by GET /v1/jobs at most (and by default). */
export const JOBS_LIST_MAX = 1_000;

/**
 * Upper bounds (bytes, inclusive) of the read-size histogram's buckets; the last bucket holds
 * every larger read. Powers of four from 4 KiB: the sizes where per-request cost stops mattering
 * lie between the first and the last.
 */
export const READ_SIZE_BUCKET_BOUNDS: readonly number[] = [4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216];
/** Buckets in a histogram: one per bound and one above the last. */
export const READ_SIZE_BUCKETS = READ_SIZE_BUCKET_BOUNDS.length + 1;

/** The bucket a read of `bytes` falls in. */
export function readSizeBucket(bytes: number): number {
  for (let i = 0; i < READ_SIZE_BUCKET_BOUNDS.length; i++) if (bytes <= (READ_SIZE_BUCKET_BOUNDS[i] as number)) return i;
  return READ_SIZE_BUCKET_BOUNDS.length;
}

/** Counts one reader made since its previous report; all non-negative integers. */
export interface JobReadCounts {
  /** HTTP reads sent to storage nodes. */
  readonly requests: number;
  /** Stream bytes the scan needed (the columns asked for). */
  readonly bytesNeeded: number;
  /** Bytes fetched from nodes to get them (coalescing gaps, hedges and rebuilds included). */
  readonly bytesFetched: number;
  /** Reads that had to rebuild a range from other shards. */
  readonly degradedReads: number;
  /** Bytes fetched to rebuild ranges whose node failed or lied. */
  readonly rebuildBytes: number;
  readonly rows: number;
  readonly stripes: number;
  /** Time spent scanning, summed over the reader's scans (ms). */
  readonly readMs: number;
  /** Reads by size, READ_SIZE_BUCKETS counts. */
  readonly readSizes: readonly number[];
}

/** The body of POST /v1/tables/:name/reads: the table is the route's. */
export interface JobReadReport extends JobReadCounts {
  /** JOB_ID_PATTERN (scan-types.ts). */
  readonly job: string;
  /** Scans this report finishes (0 for a report sent while a scan runs). */
  readonly scansFinished: number;
}

/** What a storage node served for one job since its previous heartbeat. */
export interface NodeJobCounts {
  readonly job: string;
  readonly requests: number;
  readonly bytesServed: number;
  /** Reads answered from the node's hot-column cache, and their bytes. */
  readonly cacheHits: number;
  readonly cacheBytes: number;
}

/** Nodes send at most this many jobs per heartbeat (the busiest); the rest wait for the next. */
export const NODE_JOB_COUNTS_MAX = 256;

/** A job as the metadata service sums it up. */
export interface JobSummary extends JobReadCounts {
  readonly job: string;
  /** Tables the job read, by name. */
  readonly tables: readonly string[];
  readonly scansFinished: number;
  /** bytesFetched / bytesNeeded (0 when nothing was needed). */
  readonly amplification: number;
  /** Bytes storage nodes served for the job, and from their hot-column caches. */
  readonly nodeBytesServed: number;
  readonly cacheHits: number;
  readonly cacheBytes: number;
  readonly firstAt: string;
  readonly lastAt: string;
  /** lastAt - firstAt: how long the job has been reading (ms). */
  readonly durationMs: number;
}

export interface JobList {
  readonly jobs: readonly JobSummary[];
  /** How long a job is kept after it was last seen (ms). */
  readonly retentionMs: number;
}

/** One table's share of a job. */
export interface JobTableCounts extends JobReadCounts {
  readonly table: string;
  readonly scansFinished: number;
}

export interface JobDetail extends JobSummary {
  readonly byTable: readonly JobTableCounts[];
  /** READ_SIZE_BUCKET_BOUNDS again, so a reader of the JSON needs no constants to label the histogram. */
  readonly readSizeBounds: readonly number[];
}
