/**
 * `GET /api/dashboard`: one self-contained HTML page (inline CSS, inline script, SVG charts; nothing
 * from a CDN, the app may run where there is no internet). It polls `dashboard/data` next to its own
 * path, passing on `?code=` so it works behind a function key, and keeps the history for the charts
 * over time itself. A content security policy allows exactly its own script and style (by hash) and
 * requests to its own origin.
 */
import { createHash } from 'node:crypto';
import { CHART_MATH_SOURCE } from './chartMath.js';

/** Series colours; the browser test looks for these pixels, so they are solid fills. */
export const COLORS = {
  windowTokens: '#2563eb',
  quota: '#dc2626',
  slicePast: '#0891b2',
  sliceReserved: '#f59e0b',
  utilization: '#7c3aed',
  queued: '#94a3b8',
  waiting: '#f59e0b',
  running: '#2563eb',
  completed: '#16a34a',
  failed: '#dc2626',
  grid: '#e5e7eb',
  axis: '#6b7280',
} as const;

/** Chart size in CSS pixels (SVG user units). */
export const CHART = { width: 520, height: 210, left: 52, right: 12, top: 10, bottom: 26 } as const;

const STYLE = `
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; background: #f3f4f6; }
header { display: flex; gap: 16px; align-items: baseline; padding: 12px 20px; background: #111827; color: #f9fafb; }
header h1 { margin: 0; font-size: 18px; }
#updated { color: #d1d5db; font-size: 13px; }
#problems { color: #fecaca; font-size: 13px; }
main { padding: 16px 20px; display: grid; gap: 16px; }
section { background: #ffffff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 12px 16px; }
h2 { margin: 0 0 8px; font-size: 16px; }
h2 small { color: #6b7280; font-weight: normal; }
.tiles { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 12px; }
.tile { min-width: 112px; padding: 6px 10px; border: 1px solid #e5e7eb; border-radius: 6px; }
.tile .label { color: #6b7280; font-size: 12px; }
.tile .value { font-size: 18px; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr)); gap: 12px; }
figure { margin: 0; }
figcaption { font-size: 13px; color: #374151; margin-bottom: 4px; }
svg.chart { display: block; background: #ffffff; }
svg text { font-size: 11px; fill: #6b7280; }
.legend { font-size: 12px; color: #4b5563; margin-top: 2px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; vertical-align: middle; }
table { border-collapse: collapse; font-size: 12px; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #f3f4f6; font-variant-numeric: tabular-nums; }
th { color: #6b7280; font-weight: normal; }
.note { color: #6b7280; font-size: 12px; margin: 4px 0 0; }
.empty { color: #6b7280; font-size: 13px; }
`;

/** Swatch colours are classes, not style attributes: the policy allows no inline style attributes. */
const SWATCHES = Object.entries(COLORS)
  .map(([name, color]) => `.swatch.${name} { background: ${color}; }`)
  .join('\n');

const MAIN = `
'use strict';
const COLORS = ${JSON.stringify(COLORS)};
const CHART = ${JSON.stringify(CHART)};
const SVG_NS = 'http://www.w3.org/2000/svg';
const HISTORY_MS = 10 * 60 * 1000;
const HISTORY_POINTS = 600;
const params = new URLSearchParams(location.search);
const code = params.get('code');
const dataUrl = location.pathname.replace(/\\/?$/, '/data') + (code ? '?code=' + encodeURIComponent(code) : '');
const requestedPoll = Number(params.get('poll'));
const histories = new Map();
let polls = 0;

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}
function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}
function plotFrame() {
  return { left: CHART.left, top: CHART.top, width: CHART.width - CHART.left - CHART.right, height: CHART.height - CHART.top - CHART.bottom };
}
function clear(svg) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  svg.setAttribute('width', CHART.width);
  svg.setAttribute('height', CHART.height);
  svg.setAttribute('viewBox', '0 0 ' + CHART.width + ' ' + CHART.height);
}
function timeLabel(t) {
  return new Date(t).toISOString().slice(11, 19);
}
/** Grid, y labels and x labels at both ends. */
function axes(svg, yMax, formatY, xLabels) {
  const f = plotFrame();
  const n = tickCount(yMax);
  for (let i = 0; i <= n; i++) {
    const y = f.top + f.height - (i / n) * f.height;
    svg.appendChild(svgEl('line', { x1: f.left, x2: f.left + f.width, y1: y, y2: y, stroke: COLORS.grid, 'stroke-width': 1 }));
    svg.appendChild(svgEl('text', { x: f.left - 6, y: y + 4, 'text-anchor': 'end' }, formatY((yMax * i) / n)));
  }
  if (xLabels) {
    svg.appendChild(svgEl('text', { x: f.left, y: CHART.height - 8, 'text-anchor': 'start' }, xLabels[0]));
    svg.appendChild(svgEl('text', { x: f.left + f.width, y: CHART.height - 8, 'text-anchor': 'end' }, xLabels[1]));
  }
}
/** A chart over time from the page's own history: filled series (stacked when asked) and optional reference lines. */
function timeChart(svg, history, series, options) {
  clear(svg);
  const f = plotFrame();
  const t0 = history.length > 0 ? history[0].t : 0;
  const t1 = history.length > 0 ? history[history.length - 1].t : 1;
  const values = series.map((s) => history.map((h) => h[s.key] || 0));
  const tops = options.stacked ? stack(values) : values;
  let max = options.yMax || 0;
  for (const top of tops) for (const v of top) max = Math.max(max, v);
  for (const r of options.refs || []) for (const h of history) max = Math.max(max, h[r.key] || 0);
  const yMax = options.yMax || niceCeil(Math.max(options.minMax || 0, max * 1.1));
  axes(svg, yMax, options.formatY || formatCount, history.length > 0 ? [timeLabel(t0), timeLabel(t1)] : null);
  for (let s = tops.length - 1; s >= 0; s--) {
    const points = project(history.map((h, i) => ({ x: h.t, y: tops[s][i] })), t0, t1, yMax, f);
    svg.appendChild(svgEl('path', { d: areaPath(points, f.top + f.height), fill: series[s].color, 'data-series': series[s].key }));
  }
  for (const r of options.refs || []) {
    const points = project(history.map((h) => ({ x: h.t, y: h[r.key] || 0 })), t0, t1, yMax, f);
    if (points.length === 1) points.push({ x: f.left + f.width, y: points[0].y });
    svg.appendChild(svgEl('path', { d: linePath(points), fill: 'none', stroke: r.color, 'stroke-width': 2, 'stroke-dasharray': '6 4', 'data-series': r.key }));
  }
  svg.setAttribute('data-points', String(history.length));
}
/** The gate's own buckets: charged per slice over the last window, reserved ahead of now. */
function slicesChart(svg, gate) {
  clear(svg);
  const f = plotFrame();
  const slices = gate.slices;
  const perSlice = gate.quota * gate.sliceMs / gate.windowMs;
  let max = perSlice;
  for (const s of slices) max = Math.max(max, s.tokens);
  const yMax = niceCeil(max * 1.1);
  const end = slices.length > 0 ? slices[slices.length - 1].at + gate.sliceMs : gate.now;
  const start = slices.length > 0 ? slices[0].at : gate.now - gate.windowMs;
  axes(svg, yMax, formatCount, ['-' + Math.round((gate.now - start) / 1000) + ' s', end > gate.now + gate.sliceMs ? '+' + Math.round((end - gate.now) / 1000) + ' s' : 'now']);
  const width = f.width / Math.max(1, slices.length);
  let bars = 0;
  slices.forEach((s, i) => {
    if (s.tokens <= 0) return;
    const [p] = project([{ x: 0, y: s.tokens }], 0, 1, yMax, f);
    bars++;
    svg.appendChild(svgEl('rect', { x: f.left + i * width, y: p.y, width: Math.max(1, width - 1), height: f.top + f.height - p.y, fill: s.at > gate.now ? COLORS.sliceReserved : COLORS.slicePast }));
  });
  const [q] = project([{ x: 0, y: perSlice }], 0, 1, yMax, f);
  svg.appendChild(svgEl('line', { x1: f.left, x2: f.left + f.width, y1: q.y, y2: q.y, stroke: COLORS.quota, 'stroke-width': 1.5, 'stroke-dasharray': '6 4' }));
  const nowIndex = slices.findIndex((s) => s.at > gate.now);
  if (nowIndex > 0) {
    const x = f.left + nowIndex * width;
    svg.appendChild(svgEl('line', { x1: x, x2: x, y1: f.top, y2: f.top + f.height, stroke: COLORS.axis, 'stroke-width': 1 }));
  }
  svg.setAttribute('data-bars', String(bars));
}
function batchesChart(svg, batches) {
  const rowHeight = 26;
  const height = Math.max(60, 20 + batches.length * rowHeight);
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  svg.setAttribute('width', CHART.width * 2);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', '0 0 ' + CHART.width * 2 + ' ' + height);
  const left = 230;
  const width = CHART.width * 2 - left - 120;
  if (batches.length === 0) svg.appendChild(svgEl('text', { x: 10, y: 30 }, 'no batches yet'));
  batches.forEach((b, row) => {
    const y = 10 + row * rowHeight;
    svg.appendChild(svgEl('text', { x: 4, y: y + 15 }, b.id.slice(0, 12) + '  ' + timeLabel(Date.parse(b.createdAt))));
    svg.appendChild(svgEl('rect', { x: left, y: y, width: width, height: 18, fill: '#f3f4f6' }));
    let x = left;
    for (const status of ['completed', 'failed', 'running', 'waiting', 'queued']) {
      const w = b.total > 0 ? (b.counts[status] / b.total) * width : 0;
      if (w <= 0) continue;
      svg.appendChild(svgEl('rect', { x: x, y: y, width: w, height: 18, fill: COLORS[status], 'data-status': status }));
      x += w;
    }
    svg.appendChild(svgEl('text', { x: left + width + 8, y: y + 14, 'data-batch-label': b.id }, formatCount(b.finished) + ' / ' + formatCount(b.total) + (b.done ? ' done' : '')));
  });
  svg.setAttribute('data-rows', String(batches.length));
}
function failuresChart(svg, failures) {
  clear(svg);
  const f = plotFrame();
  const byKind = new Map();
  for (const x of failures) {
    const kind = x.error ? String(x.error.status === null ? 'no response' : x.error.status) + (x.error.code ? ' ' + x.error.code : '') : 'unknown';
    byKind.set(kind, (byKind.get(kind) || 0) + 1);
  }
  const kinds = [...byKind.entries()].sort((a, b) => b[1] - a[1]);
  const yMax = niceCeil(Math.max(5, ...kinds.map((k) => k[1])));
  axes(svg, yMax, formatCount, null);
  const width = f.width / Math.max(4, kinds.length);
  kinds.forEach(([kind, count], i) => {
    const [p] = project([{ x: 0, y: count }], 0, 1, yMax, f);
    svg.appendChild(svgEl('rect', { x: f.left + i * width + 4, y: p.y, width: width - 8, height: f.top + f.height - p.y, fill: COLORS.failed }));
    svg.appendChild(svgEl('text', { x: f.left + i * width + width / 2, y: CHART.height - 8, 'text-anchor': 'middle' }, kind.slice(0, 24)));
  });
  if (kinds.length === 0) svg.appendChild(svgEl('text', { x: f.left + 10, y: f.top + 20 }, 'no failures'));
  svg.setAttribute('data-bars', String(kinds.length));
}
function tile(container, field, label) {
  const box = el('div', { class: 'tile' });
  box.appendChild(el('div', { class: 'label' }, label));
  box.appendChild(el('div', { class: 'value', 'data-field': field }, '–'));
  container.appendChild(box);
}
function setField(root, field, value, text) {
  const node = root.querySelector('[data-field="' + field + '"]');
  if (!node) return;
  node.setAttribute('data-value', value === null || value === undefined ? '' : String(value));
  node.textContent = text;
}
function figure(parent, chart, caption, legend) {
  const fig = el('figure');
  fig.appendChild(el('figcaption', {}, caption));
  fig.appendChild(svgEl('svg', { class: 'chart', 'data-chart': chart, width: CHART.width, height: CHART.height }));
  const keys = el('div', { class: 'legend' });
  for (const [name, label] of legend) {
    keys.appendChild(el('span', { class: 'swatch ' + name }));
    keys.appendChild(document.createTextNode(label));
  }
  fig.appendChild(keys);
  parent.appendChild(fig);
}
function deploymentSection(name) {
  const existing = [...document.querySelectorAll('section.deployment')].find((s) => s.getAttribute('data-deployment') === name);
  if (existing) return existing;
  const section = el('section', { class: 'deployment', 'data-deployment': name });
  const title = el('h2', {}, name + ' ');
  title.appendChild(el('small', { 'data-field': 'mode' }));
  section.appendChild(title);
  const tiles = el('div', { class: 'tiles' });
  tile(tiles, 'windowTokens', 'tokens in window');
  tile(tiles, 'quota', 'quota per window');
  tile(tiles, 'utilization', 'utilization');
  tile(tiles, 'reservedTokens', 'reserved tokens');
  tile(tiles, 'inFlight', 'in flight');
  tile(tiles, 'queued', 'queued jobs');
  tile(tiles, 'waiting', 'waiting jobs');
  tile(tiles, 'running', 'running jobs');
  tile(tiles, 'queueDepth', 'queue depth');
  section.appendChild(tiles);
  section.appendChild(el('p', { class: 'note', 'data-field': 'gateNote' }));
  const charts = el('div', { class: 'charts' });
  figure(charts, 'window', 'Tokens in the rolling window vs quota (polled)', [['windowTokens', 'tokens in window'], ['quota', 'quota']]);
  figure(charts, 'slices', 'Tokens charged per time slice: the gate\\'s buckets, last window and reserved ahead', [['slicePast', 'charged'], ['sliceReserved', 'reserved'], ['quota', 'quota per slice']]);
  figure(charts, 'utilization', 'Utilization (standard: window tokens / quota; provisioned: the gate\\'s estimate)', [['utilization', 'utilization']]);
  figure(charts, 'queue', 'Queue depth: open jobs by status', [['queued', 'queued'], ['waiting', 'waiting'], ['running', 'running']]);
  section.appendChild(charts);
  const details = el('details', { open: '' });
  details.appendChild(el('summary', {}, 'Gate status'));
  details.appendChild(el('table', { class: 'status' }));
  section.appendChild(details);
  document.getElementById('deployments').appendChild(section);
  return section;
}
function statusValue(key, value) {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'number' && value > 1e12 && (key === 'at' || /(At|Until)$/.test(key))) return new Date(value).toISOString();
  if (typeof value === 'number') return Number.isInteger(value) ? formatCount(value) : String(Math.round(value * 1000) / 1000);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
function renderDeployment(d, t) {
  const section = deploymentSection(d.name);
  const gate = d.gate;
  const status = gate ? gate.status : {};
  const sample = {
    t: t,
    windowTokens: status.windowTokens || 0,
    quota: gate ? gate.quota : 0,
    utilization: gate ? gate.utilization : 0,
    queued: d.jobs.queued,
    waiting: d.jobs.waiting,
    running: d.jobs.running,
  };
  const history = pushHistory(histories.get(d.name) || [], sample, HISTORY_MS, HISTORY_POINTS);
  histories.set(d.name, history);
  setField(section, 'mode', gate ? gate.mode : null, gate ? gate.mode + ', window ' + gate.windowMs / 1000 + ' s' : 'no gate yet');
  setField(section, 'windowTokens', gate ? status.windowTokens : null, gate ? formatCount(status.windowTokens) : '–');
  setField(section, 'quota', gate ? gate.quota : null, gate ? formatCount(gate.quota) : '–');
  setField(section, 'utilization', gate ? gate.utilization : null, gate ? formatPercent(gate.utilization) : '–');
  setField(section, 'reservedTokens', gate ? status.reservedTokens : null, gate ? formatCount(status.reservedTokens) : '–');
  const inFlight = typeof status.inFlight === 'number' ? status.inFlight : null;
  setField(section, 'inFlight', inFlight, inFlight === null ? '–' : formatCount(inFlight) + (typeof status.maxInFlight === 'number' ? ' / ' + formatCount(status.maxInFlight) : ''));
  for (const s of ['queued', 'waiting', 'running']) setField(section, s, d.jobs[s], formatCount(d.jobs[s]));
  setField(section, 'queueDepth', d.queueDepth, formatCount(d.queueDepth));
  setField(section, 'gateNote', d.gateNote, d.gateNote || '');
  const chart = (name) => section.querySelector('svg[data-chart="' + name + '"]');
  timeChart(chart('window'), history, [{ key: 'windowTokens', color: COLORS.windowTokens }], { refs: [{ key: 'quota', color: COLORS.quota }] });
  timeChart(chart('utilization'), history, [{ key: 'utilization', color: COLORS.utilization }], { yMax: Math.max(1, ...history.map((h) => h.utilization)), formatY: formatPercent });
  timeChart(chart('queue'), history, [{ key: 'queued', color: COLORS.queued }, { key: 'waiting', color: COLORS.waiting }, { key: 'running', color: COLORS.running }], { stacked: true, minMax: 5 });
  if (gate) slicesChart(chart('slices'), gate);
  else clear(chart('slices'));
  const table = section.querySelector('table.status');
  while (table.firstChild) table.removeChild(table.firstChild);
  for (const [key, value] of Object.entries(status)) {
    const row = el('tr');
    row.appendChild(el('th', {}, key));
    row.appendChild(el('td', { 'data-status-field': key }, statusValue(key, value)));
    table.appendChild(row);
  }
}
function renderFailures(failures) {
  failuresChart(document.getElementById('failures-chart'), failures);
  const body = document.querySelector('#failures-table tbody');
  while (body.firstChild) body.removeChild(body.firstChild);
  for (const x of failures) {
    const row = el('tr', { 'data-request-id': x.id });
    const cells = [x.failedAt ? x.failedAt.replace('T', ' ').slice(0, 19) : '', x.deployment, x.batchId.slice(0, 12), x.customId || x.id.slice(0, 12), x.attempts,
      x.error && x.error.status !== null ? x.error.status : '', x.error && x.error.code ? x.error.code : '', x.error ? x.error.message : ''];
    for (const c of cells) row.appendChild(el('td', {}, String(c)));
    body.appendChild(row);
  }
}
function render(data) {
  const t = Date.parse(data.generatedAt);
  for (const d of data.deployments) renderDeployment(d, t);
  batchesChart(document.getElementById('batches-chart'), data.batches);
  renderFailures(data.failures);
  document.getElementById('queue-note').textContent = 'Queue depth: ' + data.queueDepthSource + '.';
  const problems = document.getElementById('problems');
  problems.textContent = data.problems.join('; ');
  problems.hidden = data.problems.length === 0;
  polls++;
  document.getElementById('updated').textContent = 'updated ' + timeLabel(t) + ' UTC';
  document.body.setAttribute('data-polls', String(polls));
  document.body.setAttribute('data-generated-at', data.generatedAt);
}
async function poll() {
  let next = 2000;
  try {
    const response = await fetch(dataUrl, { cache: 'no-store', headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    const data = await response.json();
    next = data.pollMs || next;
    render(data);
  } catch (error) {
    document.getElementById('updated').textContent = 'cannot read ' + dataUrl.split('?')[0] + ': ' + (error && error.message ? error.message : String(error));
  }
  if (requestedPoll >= 250 && requestedPoll <= 60000) next = requestedPoll;
  setTimeout(poll, next);
}
poll();
`;

const SCRIPT = `${CHART_MATH_SOURCE}\n${MAIN}`;
const STYLES = `${STYLE}\n${SWATCHES}\n`;

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TokenGate dashboard</title>
<link rel="icon" href="data:,">
<style>${STYLES}</style>
</head>
<body>
<header><h1>TokenGate</h1><span id="updated">connecting…</span><span id="problems" hidden></span></header>
<main>
<div id="deployments"></div>
<section>
<h2>Batch progress</h2>
<svg id="batches-chart" class="chart" data-chart="batches" width="${CHART.width * 2}" height="60"></svg>
<div class="legend"><span class="swatch completed"></span>completed<span class="swatch failed"></span>failed<span class="swatch running"></span>running<span class="swatch waiting"></span>waiting<span class="swatch queued"></span>queued</div>
</section>
<section>
<h2>Recent failures</h2>
<svg id="failures-chart" class="chart" data-chart="failures" width="${CHART.width}" height="${CHART.height}"></svg>
<table id="failures-table"><thead><tr><th>failed at (UTC)</th><th>deployment</th><th>batch</th><th>request</th><th>attempts</th><th>status</th><th>code</th><th>message</th></tr></thead><tbody></tbody></table>
</section>
<p class="note" id="queue-note"></p>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** Only this page's own script and style, requests to its own origin; nothing framed, no referrer (a `?code=` key stays put). */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': `default-src 'none'; script-src ${sha256(SCRIPT)}; style-src ${sha256(STYLES)}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
};
