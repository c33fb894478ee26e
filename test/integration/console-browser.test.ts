/**
 * The web console in a real headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against a real `granary up` cluster (nine storage nodes, the sample table) after a training
 * scan: without a token the page says to paste one; with the admin token it shows the cluster's
 * own figures (nodes by state and domain, the sample table and its partitions, a popularity bar
 * for a column the scan read, the scan's job with its amplification and read-size histogram),
 * with no console or page errors and GET requests only. A screenshot of the whole page is saved
 * and checked to be a real PNG of it. A reader's token sees its table and is told, panel by panel,
 * what only admins see. The jobs panel's empty and failed answers are checked with the browser's
 * request interception, and must leave the other panels drawn.
 *
 * Chromium missing is a failure, not a skip: CI installs it (.ci/run), so a skip would hide a
 * broken setup. GRANARY_CONSOLE_SCREENSHOT_DIR keeps the screenshot there instead of in the
 * cluster's temporary directory (which is removed).
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GranaryClient } from '../../client/index.js';
import { pollUntil } from '../helpers/poll.js';
import { runGranary, useUpCluster } from '../helpers/up-process.js';

/** Debian's package puts it here; GRANARY_CHROMIUM names another build (e.g. on a developer's Mac). */
const CHROMIUM = process.env.GRANARY_CHROMIUM ?? '/usr/bin/chromium';
const NODES = 9;
/** `granary up` spreads its nodes over this many failure domains (deploy/local-cluster.ts). */
const DOMAINS = 3;
const READY_DEADLINE_MS = 150_000;
const STOP_DEADLINE_MS = 60_000;
/** How long the page may take to show a figure after it was asked for (it refreshes every 5 s). */
const PAGE_DEADLINE_MS = 30_000;
const JOB = 'console-test';
const VIEWPORT = { width: 1280, height: 900 } as const;
/** A page of panels, tables and charts compresses to far more than this; a blank one to far less. */
const SCREENSHOT_BYTES_MIN = 40_000;

/** What the browser reported: console messages of type error, uncaught page errors, API calls. */
interface BrowserLog {
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  readonly apiCalls: string[];
}

beforeAll(async () => {
  try {
    await access(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} is missing: the console's browser test needs Debian's chromium (apt-get install -y chromium; .ci/run installs it)`);
  }
});

const cluster = useUpCluster({
  name: 'console',
  nodes: NODES,
  args: (root, port) => ['--data', root, '--port', String(port)],
  readyDeadlineMs: READY_DEADLINE_MS,
  stopDeadlineMs: STOP_DEADLINE_MS,
});

let browser: Browser | undefined;
let adminToken = '';
let base = '';

beforeAll(async () => {
  base = `http://127.0.0.1:${cluster.port}`;
  adminToken = (await readFile(join(cluster.root, 'admin.token'), 'utf8')).trim();
  // A training scan of two columns: what popularity and the jobs panel are drawn from.
  const client = new GranaryClient({ metadataUrl: base, token: adminToken });
  try {
    let rows = 0;
    for await (const batch of client.scan('samples', { columns: ['label', 'f_0'], job: JOB, threads: 0 })) rows += batch.numRows;
    expect(rows).toBe(15_000);
    await pollUntil(
      `job ${JOB} in GET /v1/jobs and column label in the popularity of samples`,
      async () => {
        const jobs = await client.metadata.jobs();
        const popularity = await client.metadata.popularity('samples');
        const label = popularity.columns.find((c) => c.column === 'label');
        return jobs.jobs.some((j) => j.job === JOB && j.bytesNeeded > 0) && label !== undefined && label.bytes > 0 ? true : undefined;
      },
      PAGE_DEADLINE_MS,
      200,
    );
  } finally {
    await client.close();
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
}, READY_DEADLINE_MS);

afterAll(async () => {
  await browser?.close();
});

/** A fresh page (its own sessionStorage) whose console and page errors and API calls are logged. */
async function openPage(): Promise<{ context: BrowserContext; page: Page; log: BrowserLog }> {
  if (browser === undefined) throw new Error('the browser did not start (see the beforeAll)');
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  const log: BrowserLog = { consoleErrors: [], pageErrors: [], apiCalls: [] };
  page.on('console', (message) => {
    if (message.type() === 'error') log.consoleErrors.push(`${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => log.pageErrors.push(error.stack ?? error.message));
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith('/v1/') || url.pathname === '/health') log.apiCalls.push(`${request.method()} ${url.pathname}`);
  });
  return { context, page, log };
}

async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent({ timeout: PAGE_DEADLINE_MS })) ?? '';
}

/** Waits until `selector`'s text matches `pattern`, and returns the text. */
async function waitForText(page: Page, selector: string, pattern: RegExp): Promise<string> {
  await page.locator(selector).filter({ hasText: pattern }).first().waitFor({ state: 'visible', timeout: PAGE_DEADLINE_MS });
  return textOf(page, selector);
}

describe('web console in headless Chromium', () => {
  it('granary status prints the console URL, as text and in --json, and granary up names it', async () => {
    const env = { ...process.env, GRANARY_METADATA: base, GRANARY_TOKEN: adminToken };
    const options = { cwd: cluster.dir, env, maxBuffer: 1 << 20 };
    const text = await runGranary(['status'], options);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`console   ${base}/ui\n`);
    const json = await runGranary(['status', '--json'], options);
    expect(JSON.parse(json.stdout)).toMatchObject({ console: `${base}/ui`, nodes: { total: NODES } });
    expect(cluster.up.output()).toContain(`web console: ${base}/ui `);
  });

  it('asks for a token, then shows the cluster, its table, popularity and jobs without errors; screenshot', async () => {
    const { context, page, log } = await openPage();
    try {
      const answer = await page.goto(`${base}/ui`);
      expect(answer?.status()).toBe(200);
      // No token yet: every guarded call is refused, and the page says what to do.
      const notice = await waitForText(page, '#auth-message', /paste one above/);
      expect(notice).toMatch(/asks for a token/);
      expect(await waitForText(page, '#nodes .body', /GRN_UNAUTHENTICATED/)).toMatch(/GRN_UNAUTHENTICATED/);
      // /health needs no token: the health panel still counts the nodes.
      expect(await textOf(page, '#figure-nodes')).toBe('9 alive, 0 suspect, 0 dead, 0 draining (9 total)');
      expect(await textOf(page, '#cluster-state')).toBe('health unknown');
      expect(log.pageErrors).toEqual([]);
      // Chromium logs each refused fetch as a failed resource load; nothing else may appear.
      expect(log.consoleErrors.filter((line) => !/status of 401/.test(line))).toEqual([]);
      log.consoleErrors.length = 0;
      log.apiCalls.length = 0;

      await page.fill('#token', adminToken);
      await page.click('#token-form button[type=submit]');
      expect(await waitForText(page, '#figure-data', /rows/)).toBe('1 tables, 3 partitions, 15,000 rows');
      expect(await textOf(page, '#figure-nodes')).toBe('9 alive, 0 suspect, 0 dead, 0 draining (9 total)');
      expect(await page.locator('#auth-message').isHidden()).toBe(true);
      expect(await textOf(page, '#cluster-state')).toBe('HEALTHY');
      expect(await page.locator('#nodes h3[data-domain]').count()).toBe(DOMAINS);
      expect(await page.locator('#nodes tbody tr').count()).toBe(NODES);
      expect(await textOf(page, '#tables-list')).toContain('samples');
      expect(await page.locator('#partitions-list tbody tr').count()).toBe(3);

      // Popularity: the scan read label and f_0, so each has a bar of some width.
      const labelBar = page.locator('#popularity-chart rect.bar[data-label="label"]');
      await labelBar.waitFor({ state: 'attached', timeout: PAGE_DEADLINE_MS });
      expect(Number(await labelBar.getAttribute('width'))).toBeGreaterThan(0);
      expect(await page.locator('#popularity-chart rect.bar[data-label="f_0"]').count()).toBe(1);

      // Jobs: the scan's job, its amplification bar and its read-size histogram.
      expect(await waitForText(page, '#jobs-list', new RegExp(JOB))).toContain(JOB);
      const amplification = page.locator(`#amplification-chart rect.bar[data-label="${JOB}"]`);
      expect(Number(await amplification.getAttribute('width', { timeout: PAGE_DEADLINE_MS }))).toBeGreaterThan(0);
      await page.locator('#read-size-chart').waitFor({ state: 'attached', timeout: PAGE_DEADLINE_MS });
      const heights = await page.locator('#read-size-chart rect.bar').evaluateAll((bars) => bars.map((bar) => Number(bar.getAttribute('height'))));
      expect(heights).toHaveLength(8);
      expect(heights.some((height) => height > 0)).toBe(true);

      // Let one automatic refresh pass too, so its requests are in the log checked below.
      const calls = log.apiCalls.length;
      await pollUntil('an automatic refresh of the page', () => (log.apiCalls.length > calls + 5 ? true : undefined), PAGE_DEADLINE_MS, 100);
      expect(log.pageErrors).toEqual([]);
      expect(log.consoleErrors).toEqual([]);
      expect(log.apiCalls.length).toBeGreaterThan(0);
      expect(log.apiCalls.filter((call) => !call.startsWith('GET '))).toEqual([]);

      const dir = process.env.GRANARY_CONSOLE_SCREENSHOT_DIR ?? cluster.dir;
      await mkdir(dir, { recursive: true });
      const path = join(dir, 'console.png');
      await page.screenshot({ path, fullPage: true });
      const png = await readFile(path);
      expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
      expect(png.readUInt32BE(16)).toBe(VIEWPORT.width);
      expect(png.readUInt32BE(20)).toBeGreaterThanOrEqual(VIEWPORT.height);
      expect(png.length).toBeGreaterThan(SCREENSHOT_BYTES_MIN);
      process.stdout.write(`console screenshot: ${path} (${png.length} bytes, ${png.readUInt32BE(16)}x${png.readUInt32BE(20)})\n`);
    } finally {
      await context.close();
    }
  });

  it('shows "no jobs recorded", or the jobs endpoint\'s error, in the jobs panel only', async () => {
    for (const [answer, expected] of [
      [{ status: 200, body: { jobs: [], retentionMs: 7 * 86_400_000 } }, /no jobs recorded/],
      [{ status: 404, body: { code: 'GRN_NO_ROUTE', message: 'no endpoint answers GET /v1/jobs?limit=50' } }, /GRN_NO_ROUTE: no endpoint answers GET \/v1\/jobs/],
    ] as const) {
      const { context, page, log } = await openPage();
      try {
        await page.route('**/v1/jobs?*', (route) => route.fulfill({ status: answer.status, contentType: 'application/json', body: JSON.stringify(answer.body) }));
        await page.goto(`${base}/ui`);
        await page.fill('#token', adminToken);
        await page.click('#token-form button[type=submit]');
        expect(await waitForText(page, '#jobs .body', expected)).toMatch(expected);
        expect(await waitForText(page, '#figure-nodes', /9 alive/)).toContain('(9 total)');
        await page.locator('#popularity-chart').waitFor({ state: 'attached', timeout: PAGE_DEADLINE_MS });
        expect(log.pageErrors).toEqual([]);
        // The first load had no token (401s); the stubbed 404 is a failed load by design.
        expect(log.consoleErrors.filter((line) => !/status of (401|404)/.test(line))).toEqual([]);
      } finally {
        await context.close();
      }
    }
  });

  it("with a reader's token shows its table and popularity, and says the admin-only panels are refused", async () => {
    const client = new GranaryClient({ metadataUrl: base, token: adminToken });
    const reader = await client.metadata.createToken({ role: 'reader', tables: ['samples'] }).finally(() => client.close());
    const { context, page, log } = await openPage();
    try {
      await page.goto(`${base}/ui`);
      await page.fill('#token', reader.token);
      await page.click('#token-form button[type=submit]');
      await page.locator('#popularity-chart rect.bar[data-label="label"]').waitFor({ state: 'attached', timeout: PAGE_DEADLINE_MS });
      expect(await textOf(page, '#figure-data')).toBe('1 tables, 3 partitions, 15,000 rows');
      expect(await waitForText(page, '#nodes .body', /GRN_FORBIDDEN/)).toMatch(/role reader\) may not do this: this needs the role admin/);
      expect(await textOf(page, '#jobs .body')).toMatch(/GRN_FORBIDDEN/);
      expect(await textOf(page, '#repair .body')).toMatch(/GRN_FORBIDDEN/);
      expect(await textOf(page, '#figure-nodes')).toBe('9 alive, 0 suspect, 0 dead, 0 draining (9 total)');
      expect(await page.locator('#auth-message').isHidden()).toBe(true);
      expect(log.pageErrors).toEqual([]);
      expect(log.consoleErrors.filter((line) => !/status of (401|403)/.test(line))).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
