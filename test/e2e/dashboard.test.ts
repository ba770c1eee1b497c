/**
 * The dashboard in a real headless browser (Debian's chromium driven by playwright-core) against the
 * whole app on the local runtime: a batch runs through the gate while the page polls; the test checks
 * the numbers on the page against the very JSON the page rendered, and the screenshots' pixels for
 * each chart's series colours. Without chromium this test fails: CI installs it (.ci/run).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.hoisted(() => {
  process.env.GATE_WINDOW_SECONDS = '3';
  process.env.GATE_TOKENS_PER_MINUTE = '4000';
  process.env.GATE_START_TOLERANCE_MS = '300';
  process.env.GATE_DEFAULT_MAX_TOKENS = '150';
  process.env.JOB_RETRY_BASE_MS = '50';
  // One call per job and a seeded 20% of 500s: some jobs fail, so the failure chart has data.
  process.env.JOB_MAX_ATTEMPTS = '1';
  process.env.SIMULATOR_SERVER_ERROR_RATE = '0.2';
  process.env.SIMULATOR_SEED = '7';
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Browser, Page, chromium } from 'playwright-core';
import { DashboardData } from '../../src/lib/dashboard/snapshot.js';
import { COLORS } from '../../src/lib/dashboard/page.js';
import { LocalRuntime, startLocalRuntime } from '../../src/local/runtime.js';

/** The page's DOM as far as the functions evaluated in it use it: the test project has no DOM types. */
interface DomNode {
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): DomNode | null;
  querySelectorAll(selector: string): Iterable<DomNode>;
}
declare const document: DomNode & { readonly body: DomNode };

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(__dirname, '..', '..', 'test-output', 'dashboard.png');
const JOBS = 30;

let runtime: LocalRuntime;
let browser: Browser;
const logs: string[] = [];

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tokengate-dashboard-'));
  runtime = await startLocalRuntime({ port: 0, dataDir, functionsDir: join(__dirname, '..', '..', 'src', 'functions'), log: (line) => logs.push(line) });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await runtime?.close();
});

// ---- PNG decoding (8-bit RGB/RGBA, not interlaced: what chromium writes), with node:zlib only ----

interface Image {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly pixels: Uint8Array;
}

function decodePng(png: Buffer): Image {
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [bitDepth, colorType, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      expect({ bitDepth, interlace }).toEqual({ bitDepth: 8, interlace: 0 });
      channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
      expect(channels).toBeGreaterThan(0);
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const left = x >= channels ? pixels[y * stride + x - channels]! : 0;
      const up = y > 0 ? pixels[(y - 1) * stride + x]! : 0;
      const upLeft = y > 0 && x >= channels ? pixels[(y - 1) * stride + x - channels]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = left;
      else if (filter === 2) predictor = up;
      else if (filter === 3) predictor = (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - upLeft;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        predictor = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      }
      pixels[y * stride + x] = (line[x]! + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** Pixels within a small distance of `hex` (antialiased edges aside, the fills are exact). */
function countColor(image: Image, hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
  let count = 0;
  for (let i = 0; i < image.pixels.length; i += image.channels) {
    if (Math.abs(image.pixels[i]! - r) + Math.abs(image.pixels[i + 1]! - g) + Math.abs(image.pixels[i + 2]! - b) <= 24) count++;
  }
  return count;
}

// ---- the page ----

const api = (path: string, init?: RequestInit) => fetch(`${runtime.url}${path}`, init);

/** Every data response the page received, by its generatedAt: the DOM is compared with the one it rendered. */
function recordResponses(page: Page): Map<string, DashboardData> {
  const seen = new Map<string, DashboardData>();
  page.on('response', (response) => {
    if (!new URL(response.url()).pathname.endsWith('/api/dashboard/data')) return;
    void response
      .json()
      .then((data: DashboardData) => seen.set(data.generatedAt, data))
      .catch(() => undefined);
  });
  return seen;
}

interface Rendered {
  generatedAt: string;
  fields: Record<string, string | null>;
  texts: Record<string, string>;
  statusCells: Record<string, string>;
  batchLabels: Record<string, string>;
  failureIds: string[];
}

/** What the page shows now, read in one go so no poll can re-render in between. */
function readDom(page: Page, deployment: string): Promise<Rendered> {
  return page.evaluate((name) => {
    const section = [...document.querySelectorAll('section.deployment')].find((s) => s.getAttribute('data-deployment') === name)!;
    const fields: Record<string, string | null> = {};
    const texts: Record<string, string> = {};
    for (const node of section.querySelectorAll('[data-field]')) {
      fields[node.getAttribute('data-field')!] = node.getAttribute('data-value');
      texts[node.getAttribute('data-field')!] = node.textContent ?? '';
    }
    const statusCells: Record<string, string> = {};
    for (const node of section.querySelectorAll('[data-status-field]')) statusCells[node.getAttribute('data-status-field')!] = node.textContent ?? '';
    const batchLabels: Record<string, string> = {};
    for (const node of document.querySelectorAll('[data-batch-label]')) batchLabels[node.getAttribute('data-batch-label')!] = node.textContent ?? '';
    const failureIds = [...document.querySelectorAll('#failures-table tbody tr')].map((row) => row.getAttribute('data-request-id') ?? '');
    return { generatedAt: document.body.getAttribute('data-generated-at') ?? '', fields, texts, statusCells, batchLabels, failureIds };
  }, deployment);
}

const formatCount = (n: number) => Math.round(n).toLocaleString('en-US');

function expectDomMatches(dom: Rendered, data: DashboardData, deployment: string): void {
  const d = data.deployments.find((x) => x.name === deployment)!;
  expect(d.gate).not.toBeNull();
  const gate = d.gate!;
  expect(dom.fields).toMatchObject({
    windowTokens: String(gate.status.windowTokens),
    quota: String(gate.quota),
    utilization: String(gate.utilization),
    reservedTokens: String(gate.status.reservedTokens),
    queued: String(d.jobs.queued),
    waiting: String(d.jobs.waiting),
    running: String(d.jobs.running),
    queueDepth: String(d.queueDepth),
  });
  expect(dom.texts.windowTokens).toBe(formatCount(gate.status.windowTokens));
  expect(dom.texts.queueDepth).toBe(formatCount(d.queueDepth));
  // Every field status() returned is listed, whatever fields the gate grows.
  expect(Object.keys(dom.statusCells).sort()).toEqual(Object.keys(gate.status).sort());
  expect(dom.statusCells.tokensPerWindow).toBe(formatCount(gate.status.tokensPerWindow));
  for (const b of data.batches) expect(dom.batchLabels[b.id]).toBe(`${formatCount(b.finished)} / ${formatCount(b.total)}${b.done ? ' done' : ''}`);
  expect(dom.failureIds).toEqual(data.failures.map((f) => f.id));
}

async function renderedData(page: Page, seen: Map<string, DashboardData>, deployment: string): Promise<{ dom: Rendered; data: DashboardData }> {
  for (let i = 0; i < 50; i++) {
    const dom = await readDom(page, deployment);
    const data = seen.get(dom.generatedAt);
    if (data) return { dom, data };
    await page.waitForTimeout(50);
  }
  throw new Error('the page rendered a snapshot the test never saw');
}

async function chartImage(page: Page, selector: string): Promise<Image> {
  return decodePng(await page.locator(selector).screenshot());
}

describe('the dashboard', () => {
  it('shows the gate, queue, batch progress and failures of a running batch as charts, matching its data endpoint', async () => {
    const deployment = runtime.settings.deployment;
    const requests = Array.from({ length: JOBS }, (_, i) => ({ custom_id: `d-${i}`, messages: [{ role: 'user', content: `Summarize dashboard item ${i}` }] }));
    const submitted = await api('/api/producer', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(requests) });
    expect(submitted.status).toBe(202);
    const { batch_id } = (await submitted.json()) as { batch_id: string };

    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()} (${message.location().url})`);
    });
    page.on('request', (request) => {
      if (!request.url().startsWith(runtime.url)) problems.push(`request outside the app: ${request.url()}`);
    });
    const seen = recordResponses(page);
    const response = await page.goto(`${runtime.url}/api/dashboard?poll=400`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toMatch(/script-src 'sha256-/);

    // While the batch runs: the gate has charged tokens (bars from its buckets) and the page has a history.
    const section = `section.deployment[data-deployment="${deployment}"]`;
    await page.waitForFunction(
      (selector) => {
        const root = document.querySelector(selector);
        const bars = Number(root?.querySelector('svg[data-chart="slices"]')?.getAttribute('data-bars') ?? 0);
        const points = Number(root?.querySelector('svg[data-chart="window"]')?.getAttribute('data-points') ?? 0);
        const inWindow = Number(root?.querySelector('[data-field="windowTokens"]')?.getAttribute('data-value') || 0);
        return bars > 0 && points >= 3 && inWindow > 0;
      },
      section,
      { timeout: 15_000, polling: 100 },
    );
    const running = await renderedData(page, seen, deployment);
    expectDomMatches(running.dom, running.data, deployment);

    const slices = await chartImage(page, `${section} svg[data-chart="slices"]`);
    expect(countColor(slices, COLORS.slicePast) + countColor(slices, COLORS.sliceReserved)).toBeGreaterThan(150);
    const windowChart = await chartImage(page, `${section} svg[data-chart="window"]`);
    expect(countColor(windowChart, COLORS.windowTokens)).toBeGreaterThan(1_000);
    expect(countColor(windowChart, COLORS.quota)).toBeGreaterThan(100);
    const utilization = await chartImage(page, `${section} svg[data-chart="utilization"]`);
    expect(countColor(utilization, COLORS.utilization)).toBeGreaterThan(1_000);

    // Until the batch is done: every job final on the page, and the queue chart has drawn the backlog.
    await page.waitForFunction((id) => / done$/.test(document.querySelector(`[data-batch-label="${id}"]`)?.textContent ?? ''), batch_id, { timeout: 25_000, polling: 100 });
    const queue = await chartImage(page, `${section} svg[data-chart="queue"]`);
    expect(countColor(queue, COLORS.queued) + countColor(queue, COLORS.waiting) + countColor(queue, COLORS.running)).toBeGreaterThan(1_000);

    const done = await renderedData(page, seen, deployment);
    expectDomMatches(done.dom, done.data, deployment);
    const batch = done.data.batches.find((b) => b.id === batch_id)!;
    expect(batch).toMatchObject({ total: JOBS, finished: JOBS, done: true });
    expect(batch.counts.failed).toBeGreaterThan(0);
    expect(batch.counts.completed).toBeGreaterThan(0);
    expect(done.data.failures.length).toBe(Math.min(10, batch.counts.failed));
    expect(done.data.failures[0]).toMatchObject({ batchId: batch_id, deployment, attempts: 1, error: { status: 500 } });

    const batches = await chartImage(page, '#batches-chart');
    const completedShare = batch.counts.completed / JOBS;
    expect(countColor(batches, COLORS.completed)).toBeGreaterThan(500 * completedShare);
    expect(countColor(batches, COLORS.failed)).toBeGreaterThan(50);
    const failures = await chartImage(page, '#failures-chart');
    expect(countColor(failures, COLORS.failed)).toBeGreaterThan(1_000);

    // The endpoint on its own: the configured quota and deployment, and nothing of the prompts.
    const direct = await api('/api/dashboard/data');
    expect(direct.headers.get('cache-control')).toBe('no-store');
    const text = await direct.text();
    expect(text).not.toMatch(/Summarize dashboard item/);
    const data = JSON.parse(text) as DashboardData;
    expect(data.deployments.map((d) => d.name)).toEqual([deployment]);
    expect(data.deployments[0]!.gate!.status.tokensPerWindow).toBe(4000);
    expect(data.problems).toEqual([]);

    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 45_000);
});
