// @ts-check
/**
 * The Granary web console: what `granary status`, `node list`, `repair status`, `gc status`,
 * `stats` and `jobs` print, on one page that refreshes itself, for operators who watch a cluster
 * rather than query it. Plain browser JavaScript with no dependencies, so the package serves it
 * as it is (no bundler, no CDN); type-checked against the wire contract in protocol/ by
 * metadata/console/tsconfig.browser.json.
 *
 * Read-only: it calls GET endpoints only. Table, column, partition and job names are user data:
 * they reach the page as text nodes and attribute values, never as markup.
 */

/** @typedef {import('../../../protocol/job-types.js').JobList} JobList */
/** @typedef {import('../../../protocol/job-types.js').JobSummary} JobSummary */
/** @typedef {import('../../../protocol/job-types.js').JobDetail} JobDetail */
/** @typedef {import('../../../protocol/node-types.js').NodeInfo} NodeInfo */
/** @typedef {import('../../../protocol/page-types.js').NodePage} NodePage */
/** @typedef {import('../../../protocol/page-types.js').TablePage} TablePage */
/** @typedef {import('../../../protocol/page-types.js').PartitionPage} PartitionPage */
/** @typedef {import('../../../protocol/page-types.js').GcStatus} GcStatus */
/** @typedef {import('../../../protocol/repair-types.js').RepairStatus} RepairStatus */
/** @typedef {import('../../../protocol/catalog-types.js').TableSummary} TableSummary */

/**
 * GET /health (metadata/server.ts). A follower's carries no counts, so figures come from the
 * node list as `granary status` takes them.
 * @typedef {{ status: string, startedAt: string, role?: 'leader' | 'follower', leader?: string | null, store?: string, tables?: number, blocks?: number, nodes?: { total: number, alive: number, suspect: number, dead: number, draining: number } }} Health
 */
/**
 * GET /v1/tables/:name/popularity (metadata/scans.ts ColumnPopularity, JobPopularity).
 * @typedef {{ columns: { column: string, featureId?: number, bytes: number, scans: number }[], jobs: { job: string, bytes: number, scans: number, lastAt: string }[] }} Popularity
 */

/** The token is kept for this tab only: a shared machine's next user does not inherit it. */
const TOKEN_KEY = 'granary-console-token';
/** Figures are fetched again this long after the previous refresh ended (never two at once). */
const REFRESH_INTERVAL_MS = 5_000;
/**
 * Rows each listing shows. Partitions, jobs, blocks and GC records are asked for no more; tables
 * and nodes come in one default page of the API (1,000), which the health figures sum, so a huge
 * catalog costs one page per refresh, never a walk of every page as `granary status` does.
 */
const TABLES_SHOWN_MAX = 200;
const PARTITIONS_SHOWN_MAX = 50;
const COLUMNS_CHARTED_MAX = 25;
const JOBS_SHOWN_MAX = 50;
const ENDANGERED_BLOCKS_SHOWN_MAX = 10;
const GC_RECORDS_SHOWN_MAX = 5;

/** An error answer of the API, or no answer at all (status 0). */
class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code a GRN_* code from the answer, or what went wrong before there was one
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** What the operator picked; kept across refreshes. */
const selection = {
  /** @type {string | undefined} */ table: undefined,
  /** @type {string | undefined} */ job: undefined,
};

// ---------------------------------------------------------------------------------------------
// The API

function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

/**
 * GETs `path` from the service that served the page, with the pasted token.
 * @template T
 * @param {string} path
 * @returns {Promise<T>}
 */
async function api(path) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  const token = storedToken();
  if (token !== '') headers.authorization = `Bearer ${token}`;
  /** @type {Response} */
  let response;
  try {
    response = await fetch(path, { method: 'GET', headers, cache: 'no-store' });
  } catch (error) {
    throw new ApiError(0, 'unreachable', `the metadata service did not answer ${path} (${error instanceof Error ? error.message : String(error)})`);
  }
  const text = await response.text();
  /** @type {unknown} */
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const fields = typeof body === 'object' && body !== null ? /** @type {Record<string, unknown>} */ (body) : {};
    const code = typeof fields.code === 'string' ? fields.code : `HTTP ${response.status}`;
    const message = typeof fields.message === 'string' ? fields.message : text.slice(0, 300);
    throw new ApiError(response.status, code, message);
  }
  if (body === undefined) throw new ApiError(response.status, 'not-json', `${path} answered something other than JSON`);
  return /** @type {T} */ (body);
}

// ---------------------------------------------------------------------------------------------
// Building the page (text nodes only for anything that came from the service)

/** @typedef {Node | string | number} Child */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string>} [attributes]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) element.append(typeof child === 'number' ? String(child) : child);
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * @param {string} tag
 * @param {Record<string, string | number>} [attributes]
 * @param {...Child} children
 * @returns {SVGElement}
 */
function s(tag, attributes = {}, ...children) {
  const element = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(typeof child === 'number' ? String(child) : child);
  return element;
}

/** @param {string} id */
function panelBody(id) {
  const body = document.querySelector(`#${id} > .body`);
  if (!(body instanceof HTMLElement)) throw new Error(`the page has no panel #${id}`);
  return body;
}

/**
 * A table with a header row; numeric columns (named in `numeric`) align right.
 * @param {readonly string[]} headings
 * @param {readonly (readonly Child[])[]} rows
 * @param {{ numeric?: readonly number[], selected?: number, id?: string }} [options]
 */
function grid(headings, rows, options = {}) {
  const numeric = new Set(options.numeric ?? []);
  /** @type {(i: number) => Record<string, string>} */
  const cls = (i) => (numeric.has(i) ? { class: 'num' } : {});
  return h(
    'table',
    options.id === undefined ? {} : { id: options.id },
    h('thead', {}, h('tr', {}, ...headings.map((heading, i) => h('th', cls(i), heading)))),
    h('tbody', {}, ...rows.map((cells, r) => h('tr', r === options.selected ? { class: 'selected' } : {}, ...cells.map((cell, i) => h('td', cls(i), cell))))),
  );
}

/** @param {readonly [string, Child | Child[]][]} pairs */
function figures(pairs) {
  return h('dl', { class: 'figures' }, ...pairs.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, ...(Array.isArray(value) ? value : [value]))]));
}

/** @param {string} text */
function muted(text) {
  return h('p', { class: 'muted' }, text);
}

/**
 * A button that looks like a link and selects something by name.
 * @param {string} text
 * @param {() => void} onClick
 * @param {Record<string, string>} attributes
 */
function pick(text, onClick, attributes) {
  const button = h('button', { type: 'button', class: 'link', ...attributes }, text);
  button.addEventListener('click', onClick);
  return button;
}

// ---------------------------------------------------------------------------------------------
// Figures as words

/** @param {number} bytes */
function formatBytes(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** @param {number} value */
function formatCount(value) {
  return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 1 });
}

/** @param {number} seconds */
function formatDuration(seconds) {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** @param {string} iso */
function ago(iso) {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return Number.isFinite(seconds) ? `${formatDuration(seconds)} ago` : iso;
}

// ---------------------------------------------------------------------------------------------
// Charts: inline SVG, sized in user units and scaled by the browser

/**
 * @typedef {{ label: string, value: number, text: string, second?: number }} Bar
 * `second`: a lighter bar drawn under the main one (e.g. bytes fetched under bytes needed).
 */

/**
 * Horizontal bars, one row per item, longest first as given.
 * @param {readonly Bar[]} bars
 * @param {{ id: string, title: string, reference?: { value: number, label: string } }} options
 */
function barChart(bars, options) {
  const width = 640;
  const labelWidth = 180;
  const textWidth = 150;
  const rowHeight = 20;
  const plotWidth = width - labelWidth - textWidth;
  const max = Math.max(...bars.map((bar) => Math.max(bar.value, bar.second ?? 0)), options.reference?.value ?? 0, Number.MIN_VALUE);
  const height = bars.length * rowHeight + (options.reference === undefined ? 4 : 18);
  const svg = s('svg', { class: 'chart', id: options.id, viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': options.title });
  svg.append(s('title', {}, options.title));
  bars.forEach((bar, i) => {
    const y = i * rowHeight + 2;
    const label = bar.label.length > 28 ? `${bar.label.slice(0, 27)}…` : bar.label;
    const row = s('g', { 'data-label': bar.label }, s('title', {}, `${bar.label}: ${bar.text}`));
    row.append(s('text', { x: labelWidth - 6, y: y + 12, 'text-anchor': 'end' }, label));
    row.append(s('rect', { class: 'track', x: labelWidth, y, width: plotWidth, height: rowHeight - 6 }));
    if (bar.second !== undefined) row.append(s('rect', { class: 'bar second', x: labelWidth, y, width: (plotWidth * bar.second) / max, height: rowHeight - 6 }));
    row.append(s('rect', { class: 'bar', 'data-label': bar.label, x: labelWidth, y, width: Math.max(bar.value > 0 ? 1 : 0, (plotWidth * bar.value) / max), height: rowHeight - 6 }));
    row.append(s('text', { x: labelWidth + plotWidth + 6, y: y + 12 }, bar.text));
    svg.append(row);
  });
  if (options.reference !== undefined) {
    const x = labelWidth + (plotWidth * options.reference.value) / max;
    svg.append(s('line', { class: 'reference', x1: x, x2: x, y1: 0, y2: height - 14 }));
    svg.append(s('text', { class: 'muted', x, y: height - 2, 'text-anchor': 'middle' }, options.reference.label));
  }
  return svg;
}

/**
 * Vertical bars over labelled buckets: a read-size histogram.
 * @param {readonly number[]} counts
 * @param {readonly string[]} labels
 * @param {{ id: string, title: string }} options
 */
function columnChart(counts, labels, options) {
  const width = 640;
  const height = 170;
  const top = 16;
  const bottom = 22;
  const slot = width / Math.max(1, counts.length);
  const max = Math.max(...counts, 1);
  const svg = s('svg', { class: 'chart', id: options.id, viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': options.title });
  svg.append(s('title', {}, options.title));
  counts.forEach((count, i) => {
    const barHeight = ((height - top - bottom) * count) / max;
    const x = i * slot + slot * 0.15;
    const y = height - bottom - barHeight;
    svg.append(
      s(
        'g',
        { 'data-bucket': labels[i] ?? '' },
        s('title', {}, `${labels[i] ?? ''}: ${formatCount(count)} reads`),
        s('rect', { class: 'bar', x, y, width: slot * 0.7, height: Math.max(count > 0 ? 1 : 0, barHeight) }),
        s('text', { x: x + slot * 0.35, y: y - 3, 'text-anchor': 'middle' }, count > 0 ? formatCount(count) : ''),
        s('text', { class: 'muted', x: x + slot * 0.35, y: height - 6, 'text-anchor': 'middle' }, labels[i] ?? ''),
      ),
    );
  });
  return svg;
}

/**
 * One bar split into parts (blocks by health; a node's used and free bytes).
 * @param {readonly { value: number, cls: string, label: string }[]} parts
 * @param {{ width: number, height: number, id?: string, title: string }} size
 */
function stackedBar(parts, size) {
  const total = parts.reduce((sum, part) => sum + part.value, 0);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${size.width} ${size.height}`, width: size.width, height: size.height, role: 'img', 'aria-label': size.title, ...(size.id === undefined ? {} : { id: size.id }) });
  svg.append(s('title', {}, size.title));
  svg.append(s('rect', { class: 'track', x: 0, y: 0, width: size.width, height: size.height }));
  let x = 0;
  for (const part of parts) {
    if (total <= 0 || part.value <= 0) continue;
    const width = (size.width * part.value) / total;
    svg.append(s('rect', { class: part.cls, x, y: 0, width, height: size.height }, s('title', {}, part.label)));
    x += width;
  }
  return svg;
}

// ---------------------------------------------------------------------------------------------
// Panels

/**
 * Cluster health, as `granary status` counts it (client/cli/cluster-commands.ts statusCommand).
 * Each figure comes from the call that knows it best and falls back to /health's counters, which
 * need no token: a reader's token, or none, still sees how many nodes are alive.
 * @param {PromiseSettledResult<Health>} health
 * @param {PromiseSettledResult<NodePage>} nodePage
 * @param {PromiseSettledResult<TablePage>} tablePage
 * @param {PromiseSettledResult<RepairStatus>} repair
 */
function healthPanel(health, nodePage, tablePage, repair) {
  const counters = health.status === 'fulfilled' ? health.value : undefined;
  const more = (/** @type {string | null} */ next) => (next === null ? '' : ' (first page)');
  /** @type {[string, Child | Child[]][]} */
  const rows = [];
  if (counters === undefined) rows.push(['metadata', failure(health.status === 'rejected' ? health.reason : undefined, 'span')]);
  else rows.push(['metadata', `${location.origin}${counters.role === undefined ? '' : ` (${counters.role}${counters.store === undefined ? '' : `, ${counters.store} store`})`}`]);

  if (nodePage.status === 'fulfilled') {
    const nodes = nodePage.value.nodes;
    const count = (/** @type {string} */ state) => nodes.filter((node) => node.state === state).length;
    const capacity = nodes.reduce((sum, node) => sum + node.capacityBytes, 0);
    const used = nodes.reduce((sum, node) => sum + node.usedBytes, 0);
    rows.push(['nodes', h('span', { id: 'figure-nodes' }, `${count('alive')} alive, ${count('suspect')} suspect, ${count('dead')} dead, ${count('draining')} draining (${nodes.length} total)${more(nodePage.value.next)}`)]);
    rows.push([
      'capacity',
      [
        `${formatBytes(used)} used of ${formatBytes(capacity)}`,
        stackedBar([{ value: used, cls: 'bar', label: `used ${formatBytes(used)}` }, { value: Math.max(0, capacity - used), cls: 'track', label: `free ${formatBytes(capacity - used)}` }], { width: 240, height: 8, title: 'capacity used' }),
      ],
    ]);
  } else if (counters?.nodes !== undefined) {
    const n = counters.nodes;
    rows.push(['nodes', h('span', { id: 'figure-nodes' }, `${n.alive} alive, ${n.suspect} suspect, ${n.dead} dead, ${n.draining} draining (${n.total} total)`)]);
    rows.push(['capacity', failure(nodePage.reason, 'span')]);
  } else {
    rows.push(['nodes', failure(nodePage.reason, 'span')]);
  }

  if (tablePage.status === 'fulfilled') {
    const tables = tablePage.value.tables;
    const partitions = formatCount(tables.reduce((sum, t) => sum + t.partitions, 0));
    const rowCount = formatCount(tables.reduce((sum, t) => sum + t.rows, 0));
    rows.push(['data', h('span', { id: 'figure-data' }, `${tables.length} tables, ${partitions} partitions, ${rowCount} rows${more(tablePage.value.next)}`)]);
  } else if (counters?.tables !== undefined) {
    rows.push(['data', [`${formatCount(counters.tables)} tables; `, failure(tablePage.reason, 'span')]]);
  } else {
    rows.push(['data', failure(tablePage.reason, 'span')]);
  }

  if (repair.status === 'fulfilled') {
    const { blocks } = repair.value;
    rows.push(['blocks', `${formatCount(blocks.healthy)} healthy, ${formatCount(blocks.underReplicated)} under-replicated, ${formatCount(blocks.unavailable)} unavailable${blocks.moving > 0 ? `, ${formatCount(blocks.moving)} moving off draining nodes` : ''}`]);
    rows.push(['repair', describeRepair(repair.value)]);
  } else {
    rows.push(['blocks', counters?.blocks === undefined ? failure(repair.reason, 'span') : [`${formatCount(counters.blocks)} committed; `, failure(repair.reason, 'span')]]);
  }
  if (counters !== undefined) rows.push(['up since', `${counters.startedAt} (${ago(counters.startedAt)})`]);
  return [figures(rows)];
}

/** @param {RepairStatus} repair */
function clusterState(repair) {
  const { blocks } = repair;
  if (blocks.unavailable > 0) return { state: 'unavailable', text: 'DATA UNAVAILABLE' };
  if (blocks.underReplicated > blocks.waitingForNodes) return { state: 'under-replicated', text: 'UNDER-REPLICATED (repairing)' };
  if (blocks.underReplicated > 0) return { state: 'under-replicated', text: 'UNDER-REPLICATED (add nodes)' };
  return { state: 'healthy', text: 'HEALTHY' };
}

/** @param {RepairStatus} repair */
function describeRepair(repair) {
  const restored = `${formatCount(repair.counters.shardsRestored)} shards (${formatBytes(repair.counters.bytesWritten)}) restored since the metadata service started`;
  if (repair.bytesQueued === 0 && repair.tasksRunning === 0) return `idle; ${restored}`;
  const eta = repair.etaSeconds === null ? 'ETA unknown' : `ETA ${formatDuration(repair.etaSeconds)}`;
  return `${formatBytes(repair.bytesQueued)} to restore, ${repair.tasksRunning} tasks running, ${formatBytes(repair.recentBytesPerSecond)}/s, ${eta}; ${restored}`;
}

/**
 * @param {RepairStatus} repair
 * @param {GcStatus} gc
 */
function repairPanel(repair, gc) {
  const { blocks, settings, counters } = repair;
  const healthy = blocks.healthy;
  const parts = [
    { value: healthy, cls: 'healthy', label: `${formatCount(healthy)} healthy` },
    { value: blocks.underReplicated, cls: 'under-replicated', label: `${formatCount(blocks.underReplicated)} under-replicated` },
    { value: blocks.unavailable, cls: 'unavailable', label: `${formatCount(blocks.unavailable)} unavailable` },
  ];
  /** @type {Node[]} */
  const out = [
    figures([
      ['blocks', [`${formatCount(blocks.total)} total`, stackedBar(parts, { width: 300, height: 12, id: 'blocks-chart', title: 'blocks by health' })]],
      ['progress', describeRepair(repair)],
      ['tasks', `${counters.tasksStarted} started, ${counters.tasksDone} done, ${counters.tasksFailed} failed, ${counters.tasksExpired} expired`],
      ['settings', `rate ${formatBytes(settings.rateBytesPerSecond)}/s, ${settings.tasksMax} tasks at once, nodes dead after ${formatDuration(settings.deadAfterMs / 1000)} of silence`],
      ['gc backlog', h('span', { id: 'figure-gc' }, `${formatCount(gc.records)} records, ${formatCount(gc.chunks)} chunks to delete, ${formatCount(gc.backingOff)} waiting to retry`)],
    ]),
  ];
  if (repair.items.length > 0) {
    out.push(h('h3', {}, 'Most endangered blocks'));
    out.push(
      grid(
        ['block', 'table', 'status', 'readable', 'spare'],
        repair.items.map((item) => [item.blockId, item.table, item.status, `${item.healthyShards}/${item.dataShards + item.parityShards}`, item.nodeFailuresToSpare]),
        { numeric: [4] },
      ),
    );
  }
  if (gc.blocks.length > 0) {
    out.push(h('h3', {}, 'Queued for garbage collection'));
    out.push(grid(['record', 'reason', 'chunks', 'queued'], gc.blocks.map((entry) => [entry.blockId, entry.reason, entry.chunks.length, ago(entry.queuedAt)]), { numeric: [2] }));
  }
  return out;
}

/** @param {NodePage} page */
function nodesPanel(page) {
  const nodes = page.nodes;
  if (nodes.length === 0) return [muted('no storage nodes registered')];
  /** @type {Map<string, number>} */
  const byState = new Map();
  /** @type {Map<string, NodeInfo[]>} */
  const byDomain = new Map();
  for (const node of nodes) {
    byState.set(node.state, (byState.get(node.state) ?? 0) + 1);
    const domain = byDomain.get(node.domain) ?? [];
    domain.push(node);
    byDomain.set(node.domain, domain);
  }
  /** @type {Node[]} */
  const out = [h('div', { class: 'chips', id: 'node-states' }, ...[...byState].map(([state, n]) => h('span', { class: `chip state-${state}` }, `${n} ${state}`)))];
  for (const [domain, members] of [...byDomain].sort(([a], [b]) => a.localeCompare(b))) {
    const capacity = members.reduce((sum, node) => sum + node.capacityBytes, 0);
    const used = members.reduce((sum, node) => sum + node.usedBytes, 0);
    out.push(h('h3', { 'data-domain': domain }, `failure domain ${domain}: ${members.length} nodes, ${formatBytes(used)} used of ${formatBytes(capacity)}`));
    out.push(
      grid(
        ['node', 'state', 'url', 'chunks', 'needed', 'used', '', 'free', 'heartbeat'],
        members.map((node) => [
          node.nodeId,
          h('span', { class: `state-${node.state}` }, node.draining && node.state !== 'draining' ? `${node.state} (draining)` : node.state),
          node.url,
          formatCount(node.chunkCount),
          formatCount(node.chunksHeld),
          formatBytes(node.usedBytes),
          stackedBar(
            [
              { value: node.usedBytes, cls: 'bar', label: `${formatBytes(node.usedBytes)} used` },
              { value: Math.max(0, node.capacityBytes - node.usedBytes), cls: 'track', label: `${formatBytes(node.capacityBytes)} capacity` },
            ],
            { width: 120, height: 8, title: `${node.nodeId} capacity used` },
          ),
          formatBytes(node.freeBytes),
          ago(node.lastHeartbeatAt),
        ]),
        { numeric: [3, 4, 5, 7] },
      ),
    );
  }
  if (page.next !== null) out.push(muted('more nodes than one page: `granary node list` shows them all'));
  return out;
}

/** @param {TablePage} page */
async function tablesPanel(page) {
  const tables = page.tables.slice(0, TABLES_SHOWN_MAX);
  if (tables.length === 0) return [muted('no tables (granary table create)')];
  const chosen = tables.find((t) => t.name === selection.table) ?? tables[0];
  if (chosen === undefined) return [];
  selection.table = chosen.name;
  /** @type {Node[]} */
  const out = [
    grid(
      ['table', 'columns', 'partitions', 'rows', 'bytes', 'ec', 'created'],
      tables.map((t) => [pick(t.name, () => choose('table', t.name), { 'data-table': t.name }), t.columns, formatCount(t.partitions), formatCount(t.rows), formatBytes(t.bytes), t.ec, t.createdAt.slice(0, 10)]),
      { numeric: [1, 2, 3, 4], selected: tables.indexOf(chosen), id: 'tables-list' },
    ),
  ];
  if (page.tables.length > tables.length || page.next !== null) out.push(muted(`the first ${tables.length} tables by name: granary table list shows them all`));

  const path = `/v1/tables/${encodeURIComponent(chosen.name)}`;
  const [partitions, popularity] = await Promise.allSettled([api(`${path}/partitions?limit=${PARTITIONS_SHOWN_MAX}`), api(`${path}/popularity`)]);
  const partitionsBox = h('div', {}, h('h3', {}, `Partitions of ${chosen.name}`));
  partitionsBox.append(...settled(partitions, (/** @type {PartitionPage} */ p) => partitionsView(p)));
  const popularityBox = h('div', {}, h('h3', {}, `Column popularity of ${chosen.name}`));
  popularityBox.append(...settled(popularity, (/** @type {Popularity} */ p) => popularityView(p)));
  out.push(h('div', { class: 'split' }, partitionsBox, popularityBox));
  return out;
}

/** @param {PartitionPage} page */
function partitionsView(page) {
  if (page.partitions.length === 0) return [muted('no partitions committed yet')];
  /** @type {Node[]} */
  const out = [
    grid(
      ['partition', 'files', 'stripes', 'rows', 'bytes', 'created'],
      page.partitions.map((p) => [p.partition, p.files, formatCount(p.stripes), formatCount(p.rows), formatBytes(p.bytes), p.createdAt.slice(0, 19).replace('T', ' ')]),
      { numeric: [1, 2, 3, 4], id: 'partitions-list' },
    ),
  ];
  if (page.next !== null) out.push(muted(`the first ${page.partitions.length}: granary partition list shows them all`));
  return out;
}

/** @param {Popularity} popularity */
function popularityView(popularity) {
  const read = popularity.columns.filter((c) => c.bytes > 0 || c.scans > 0).sort((a, b) => b.bytes - a.bytes || b.scans - a.scans);
  if (read.length === 0) return [muted('no training scans recorded yet (exports and maintenance reads do not count)')];
  const shown = read.slice(0, COLUMNS_CHARTED_MAX);
  /** @type {Node[]} */
  const out = [
    barChart(
      shown.map((c) => ({ label: c.column, value: c.bytes, text: `${formatBytes(c.bytes)}, ${formatCount(c.scans)} scans` })),
      { id: 'popularity-chart', title: 'bytes training scans read of each column (decayed)' },
    ),
    muted(`bytes training scans read of each column, fading with a half-life${read.length > shown.length ? `; the top ${shown.length} of ${read.length}` : ''}`),
  ];
  if (popularity.jobs.length > 0) {
    out.push(grid(['job behind it', 'bytes', 'scans', 'last read'], popularity.jobs.map((j) => [j.job, formatBytes(j.bytes), formatCount(j.scans), ago(j.lastAt)]), { numeric: [1, 2] }));
  }
  return out;
}

/** @param {JobList} list */
async function jobsPanel(list) {
  const jobs = list.jobs.slice(0, JOBS_SHOWN_MAX);
  const kept = `jobs are kept ${formatDuration(list.retentionMs / 1000)} after their last read`;
  if (jobs.length === 0) return [h('p', { class: 'muted', id: 'no-jobs' }, `no jobs recorded (${kept})`)];
  const chosen = jobs.find((j) => j.job === selection.job) ?? jobs[0];
  if (chosen === undefined) return [];
  selection.job = chosen.job;
  /** @type {Node[]} */
  const out = [
    grid(
      ['job', 'tables', 'scans', 'requests', 'needed', 'fetched', 'amplification', 'throughput', 'degraded', 'cache hits', 'last read'],
      jobs.map((j) => [
        pick(j.job, () => choose('job', j.job), { 'data-job': j.job }),
        j.tables.join(', '),
        formatCount(j.scansFinished),
        formatCount(j.requests),
        formatBytes(j.bytesNeeded),
        formatBytes(j.bytesFetched),
        `${j.amplification.toFixed(2)}x`,
        throughput(j),
        formatCount(j.degradedReads),
        formatCount(j.cacheHits),
        ago(j.lastAt),
      ]),
      { numeric: [2, 3, 4, 5, 6, 7, 8, 9], selected: jobs.indexOf(chosen), id: 'jobs-list' },
    ),
    h('h3', {}, 'Read amplification (bytes fetched per byte needed)'),
    barChart(
      jobs.map((j) => ({ label: j.job, value: j.amplification, text: `${j.amplification.toFixed(2)}x of ${formatBytes(j.bytesNeeded)}` })),
      { id: 'amplification-chart', title: 'read amplification per job', reference: { value: 1, label: '1x' } },
    ),
  ];
  if (list.jobs.length > jobs.length) out.push(muted(`the ${jobs.length} most recent of ${list.jobs.length}: granary jobs lists them all`));
  const detailBox = h('div', { id: 'job-detail' }, h('h3', {}, `Read sizes of ${chosen.job}`));
  try {
    detailBox.append(...jobDetailView(await api(`/v1/jobs/${encodeURIComponent(chosen.job)}`)));
  } catch (error) {
    detailBox.append(failure(error));
  }
  out.push(detailBox);
  return out;
}

/** @param {JobSummary} job */
function throughput(job) {
  return job.readMs > 0 ? `${formatBytes((job.bytesNeeded * 1000) / job.readMs)}/s` : '';
}

/** @param {JobDetail} detail */
function jobDetailView(detail) {
  const bounds = detail.readSizeBounds;
  const labels = detail.readSizes.map((_, i) => (i < bounds.length ? `≤${formatBytes(bounds[i] ?? 0)}` : `>${formatBytes(bounds[bounds.length - 1] ?? 0)}`));
  return [
    columnChart(detail.readSizes, labels, { id: 'read-size-chart', title: `reads of ${detail.job} by size` }),
    grid(
      ['table', 'scans', 'requests', 'needed', 'fetched', 'degraded', 'rebuild bytes'],
      detail.byTable.map((t) => [t.table, formatCount(t.scansFinished), formatCount(t.requests), formatBytes(t.bytesNeeded), formatBytes(t.bytesFetched), formatCount(t.degradedReads), formatBytes(t.rebuildBytes)]),
      { numeric: [1, 2, 3, 4, 5, 6] },
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Errors and refreshes

/** Whether the last refresh was refused for want of a (valid) token. */
let unauthenticated = false;

/**
 * An error as the panel shows it: the API's code and message, or this page's own fault.
 * @param {unknown} error
 * @param {'p' | 'span'} [tag]
 */
function failure(error, tag = 'p') {
  if (error instanceof ApiError) {
    if (error.status === 401) unauthenticated = true;
    return h(tag, { class: 'error' }, `${error.code}: ${error.message}`);
  }
  // Not an answer of the service: a fault of this page, which the browser's console should show.
  console.error(error);
  return h(tag, { class: 'error' }, `the console failed to draw this: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * @template T
 * @param {PromiseSettledResult<T>} result
 * @param {(value: T) => Node[]} draw
 * @returns {Node[]}
 */
function settled(result, draw) {
  if (result.status === 'rejected') return [failure(result.reason)];
  try {
    return draw(result.value);
  } catch (error) {
    return [failure(error)];
  }
}

/**
 * A settled call's value, or its error thrown.
 * @template T
 * @param {PromiseSettledResult<T>} result
 * @returns {T}
 */
function value(result) {
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

/**
 * Draws a panel anew; whatever fails, from a refused call to a fault in the drawing, is shown in
 * that panel alone.
 * @param {string} id
 * @param {() => Node[] | Promise<Node[]>} draw
 */
async function fill(id, draw) {
  const body = panelBody(id);
  body.classList.remove('muted');
  try {
    body.replaceChildren(...(await draw()));
  } catch (error) {
    body.replaceChildren(failure(error));
  }
}

let refreshing = false;
let refreshAgain = false;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let nextRefresh;
let refreshWhenShown = false;

async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  clearTimeout(nextRefresh);
  try {
    const [health, nodes, tables, repair, gc, jobs] = await Promise.allSettled([
      api('/health'),
      api('/v1/nodes'),
      api('/v1/tables'),
      api(`/v1/repair?limit=${ENDANGERED_BLOCKS_SHOWN_MAX}`),
      api(`/v1/gc?limit=${GC_RECORDS_SHOWN_MAX}`),
      api(`/v1/jobs?limit=${JOBS_SHOWN_MAX}`),
    ]);
    // Said before the panels are drawn (the jobs panel waits for a second call), so the notice
    // never lags behind figures that a new token already shows.
    unauthenticated = [health, nodes, tables, repair, gc, jobs].some((r) => r.status === 'rejected' && r.reason instanceof ApiError && r.reason.status === 401);
    showAuthMessage();
    const badge = document.getElementById('cluster-state');
    if (badge !== null) {
      const state = repair.status === 'fulfilled' ? clusterState(/** @type {RepairStatus} */ (repair.value)) : { state: 'unknown', text: 'health unknown' };
      badge.dataset.state = state.state;
      badge.textContent = state.text;
    }
    await Promise.all([
      fill('health', () =>
        healthPanel(
          /** @type {PromiseSettledResult<Health>} */ (health),
          /** @type {PromiseSettledResult<NodePage>} */ (nodes),
          /** @type {PromiseSettledResult<TablePage>} */ (tables),
          /** @type {PromiseSettledResult<RepairStatus>} */ (repair),
        ),
      ),
      fill('repair', () => repairPanel(/** @type {RepairStatus} */ (value(repair)), /** @type {GcStatus} */ (value(gc)))),
      fill('nodes', () => nodesPanel(/** @type {NodePage} */ (value(nodes)))),
      fill('tables', () => tablesPanel(/** @type {TablePage} */ (value(tables)))),
      fill('jobs', () => jobsPanel(/** @type {JobList} */ (value(jobs)))),
    ]);
    showAuthMessage();
    const updated = document.getElementById('updated');
    if (updated !== null) updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
  } finally {
    refreshing = false;
    if (refreshAgain) {
      refreshAgain = false;
      void refresh();
    } else {
      nextRefresh = setTimeout(() => {
        // A tab nobody looks at costs the service nothing; it catches up when shown again.
        if (document.hidden) refreshWhenShown = true;
        else void refresh();
      }, REFRESH_INTERVAL_MS);
    }
  }
}

function showAuthMessage() {
  const message = document.getElementById('auth-message');
  if (message === null) return;
  message.hidden = !unauthenticated;
  message.textContent = unauthenticated
    ? storedToken() === ''
      ? 'The metadata service asks for a token: paste one above (the admin token is in data/admin.token where granary up runs; granary token create makes others).'
      : 'The metadata service refused this token (unknown, revoked or expired): paste another above.'
    : '';
}

/**
 * @param {'table' | 'job'} what
 * @param {string} name
 */
function choose(what, name) {
  selection[what] = name;
  void refresh();
}

function start() {
  const form = document.getElementById('token-form');
  const input = document.getElementById('token');
  const forget = document.getElementById('token-forget');
  if (!(form instanceof HTMLFormElement) || !(input instanceof HTMLInputElement) || forget === null) throw new Error('the page lacks its token form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (token === '') sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
    input.value = '';
    input.placeholder = token === '' ? 'no token' : 'token kept for this tab';
    void refresh();
  });
  forget.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    input.placeholder = 'no token';
    void refresh();
  });
  if (storedToken() !== '') input.placeholder = 'token kept for this tab';
  document.addEventListener('visibilitychange', () => {
    if (document.hidden || !refreshWhenShown) return;
    refreshWhenShown = false;
    void refresh();
  });
  void refresh();
}

start();
