/**
 * A flights-like table for the storage-bytes benchmark (bench/storage-bytes.ts), generated with
 * a seeded random: the shape of the public 3-million-row flights data set issue 13 was tried with
 * (an event time, two skewed integers, two low-cardinality strings; 13.7 MB as zstd Parquet), and
 * of most event tables: a sorted timestamp, small skewed numbers, codes from a short list.
 *
 *   date         timestamp (int64 us before the `timestamp` type exists): sorted departure times
 *                at minute resolution, fewer at night; FLIGHTS_DAYS days at 3M rows, fewer days
 *                for fewer rows, so the density (~30 flights a minute by day: consecutive times
 *                mostly equal or a minute apart) is the same at any size
 *   delay        int32 minutes: 55% early (-1 to about -30), 30% a little late (geometric mean 8),
 *                15% a Pareto tail (alpha 1.3) capped at 1,500
 *   distance     int32 miles: the great-circle distance of the (origin, destination) route, so a
 *                function of the two codes, as in the real data (a few thousand distinct values)
 *   origin       string: one of FLIGHTS_AIRPORTS three-letter codes, Zipf s = 1 (hubs dominate)
 *   destination  string: the same law, never the origin
 *
 * Each column draws from its own PRNG in row order, so row i is the same whatever the batch size.
 */
import * as arrow from 'apache-arrow';
import { arrowSchemaOf } from '../client/index.js';
import { COLUMN_TYPES, type ColumnSpec, type ColumnType } from '../protocol/index.js';
import { seededRandom } from '../test/helpers/seeded-random.js';

export const FLIGHTS_TABLE = 'flights';
export const FLIGHTS_SEED = 20060101;
/** Rows of the public data set. */
export const FLIGHTS_ROWS = 3_000_000;
export const FLIGHTS_AIRPORTS = 300;
/** Days the FLIGHTS_ROWS rows span; a table of other size spans proportionally. */
export const FLIGHTS_DAYS = 90;
export const FLIGHTS_BATCH_ROWS = 65_536;
const AIRPORT_ZIPF = 1.0;
const DELAY_CAP_MINUTES = 1500;
const FIRST_DAY_MS = Date.UTC(2006, 0, 1);
const MINUTE_US = 60_000_000n;
/** By day a flight leaves this much more often than by night (00:00-05:59). */
const DAY_OVER_NIGHT_RATE = 8;

/**
 * The event time column's type: `timestamp` once Granary has it (issue 13), else int64
 * microseconds, the same values either way, so figures before and after compare.
 */
export const FLIGHTS_TIME_TYPE: ColumnType = (COLUMN_TYPES as readonly string[]).includes('timestamp') ? ('timestamp' as ColumnType) : 'int64';

export const FLIGHTS_COLUMNS: readonly ColumnSpec[] = [
  { name: 'date', type: FLIGHTS_TIME_TYPE },
  { name: 'delay', type: 'int32' },
  { name: 'distance', type: 'int32' },
  { name: 'origin', type: 'string' },
  { name: 'destination', type: 'string' },
];

/** Built by the client's own mapping, so batches pass the writer's type check unchanged. */
export const FLIGHTS_SCHEMA: arrow.Schema = arrowSchemaOf(FLIGHTS_COLUMNS);

interface Airport {
  readonly code: Uint8Array;
  readonly latRad: number;
  readonly lonRad: number;
}

/** Distinct codes of three capital letters and places in the contiguous US's lat/lon box. */
function makeAirports(rand: () => number): Airport[] {
  const seen = new Set<string>();
  const airports: Airport[] = [];
  while (airports.length < FLIGHTS_AIRPORTS) {
    const code = Array.from({ length: 3 }, () => String.fromCharCode(65 + Math.floor(rand() * 26))).join('');
    const lat = 25 + rand() * 24;
    const lon = -124 + rand() * 57;
    if (seen.has(code)) continue;
    seen.add(code);
    airports.push({ code: Buffer.from(code, 'ascii'), latRad: (lat * Math.PI) / 180, lonRad: (lon * Math.PI) / 180 });
  }
  return airports;
}

/** Great-circle miles between two airports (haversine), rounded as the data set records them. */
function miles(a: Airport, b: Airport): number {
  const dLat = b.latRad - a.latRad;
  const dLon = b.lonRad - a.lonRad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latRad) * Math.cos(b.latRad) * Math.sin(dLon / 2) ** 2;
  return Math.round(2 * 3958.8 * Math.asin(Math.sqrt(h)));
}

/** Cumulative Zipf weights over airport ranks; a draw is a binary search (9 steps for 300). */
function zipfCumulative(n: number, s: number): Float64Array {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) cumulative[r] = total += (r + 1) ** -s;
  for (let r = 0; r < n; r++) cumulative[r] = (cumulative[r] as number) / total;
  return cumulative;
}

function drawRank(cumulative: Float64Array, u: number): number {
  let lo = 0;
  let hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((cumulative[mid] as number) < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function delayMinutes(rand: () => number): number {
  const u = rand();
  const v = rand();
  if (u < 0.55) return -1 - Math.floor(-Math.log(1 - v) * 6);
  if (u < 0.85) return Math.floor(-Math.log(1 - v) * 8);
  return Math.min(DELAY_CAP_MINUTES, Math.floor(15 * (1 - v) ** (-1 / 1.3)));
}

function utf8Column(codes: readonly Uint8Array[], type: arrow.Utf8): arrow.Data<arrow.Utf8> {
  const offsets = new Int32Array(codes.length + 1);
  for (let i = 0; i < codes.length; i++) offsets[i + 1] = (offsets[i] as number) + (codes[i] as Uint8Array).length;
  const values = new Uint8Array(offsets[codes.length] as number);
  for (let i = 0; i < codes.length; i++) values.set(codes[i] as Uint8Array, offsets[i] as number);
  return arrow.makeData({ type, length: codes.length, nullCount: 0, valueOffsets: offsets, data: values });
}

/** The table's rows, `batchRows` at a time (the last batch shorter). */
export function* flightsBatches(rows: number, batchRows = FLIGHTS_BATCH_ROWS): Generator<arrow.RecordBatch> {
  const airportRandom = seededRandom(FLIGHTS_SEED);
  const airports = makeAirports(airportRandom);
  const popularity = zipfCumulative(FLIGHTS_AIRPORTS, AIRPORT_ZIPF);
  const timeRandom = seededRandom(FLIGHTS_SEED + 1);
  const delayRandom = seededRandom(FLIGHTS_SEED + 2);
  const routeRandom = seededRandom(FLIGHTS_SEED + 3);
  // Mean gap between departures: the density of FLIGHTS_ROWS flights in FLIGHTS_DAYS days.
  const meanGapMinutes = (FLIGHTS_DAYS * 1440) / FLIGHTS_ROWS;
  const nightShare = 6 / 24;
  const dayGap = meanGapMinutes * (nightShare / DAY_OVER_NIGHT_RATE + (1 - nightShare));
  const nightGap = dayGap * DAY_OVER_NIGHT_RATE;
  let minutes = 0;
  const [dateField, delayField, distanceField, originField, destinationField] = FLIGHTS_SCHEMA.fields as arrow.Field[];
  for (let first = 0; first < rows; first += batchRows) {
    const n = Math.min(batchRows, rows - first);
    const dates = new BigInt64Array(n);
    const delays = new Int32Array(n);
    const distances = new Int32Array(n);
    const origins: Uint8Array[] = new Array<Uint8Array>(n);
    const destinations: Uint8Array[] = new Array<Uint8Array>(n);
    for (let i = 0; i < n; i++) {
      const night = minutes % 1440 < 360;
      minutes += -Math.log(1 - timeRandom()) * (night ? nightGap : dayGap);
      dates[i] = BigInt(FIRST_DAY_MS) * 1000n + BigInt(Math.floor(minutes)) * MINUTE_US;
      delays[i] = delayMinutes(delayRandom);
      const from = drawRank(popularity, routeRandom());
      let to = from;
      while (to === from) to = drawRank(popularity, routeRandom());
      const origin = airports[from] as Airport;
      const destination = airports[to] as Airport;
      distances[i] = miles(origin, destination);
      origins[i] = origin.code;
      destinations[i] = destination.code;
    }
    const children = [
      arrow.makeData({ type: dateField?.type as arrow.Int64, length: n, nullCount: 0, data: dates }),
      arrow.makeData({ type: delayField?.type as arrow.Int32, length: n, nullCount: 0, data: delays }),
      arrow.makeData({ type: distanceField?.type as arrow.Int32, length: n, nullCount: 0, data: distances }),
      utf8Column(origins, originField?.type as arrow.Utf8),
      utf8Column(destinations, destinationField?.type as arrow.Utf8),
    ];
    const struct = arrow.makeData({ type: new arrow.Struct(FLIGHTS_SCHEMA.fields), length: n, nullCount: 0, children });
    yield new arrow.RecordBatch(FLIGHTS_SCHEMA, struct);
  }
}
