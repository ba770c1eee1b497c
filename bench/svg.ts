/**
 * The chart of `npm run bench`: one panel per scenario, one line per contender: the deployment's
 * trailing-window load over time (standard: charged tokens in the last window as a share of quota;
 * provisioned: the bucket's utilization), with the quota (and the PTU threshold) drawn in. Plain SVG,
 * no dependencies.
 */
import { ContenderId } from './contender.js';

export interface ChartPanel {
  readonly title: string;
  readonly windowSeconds: number;
  /** Dashed reference lines: [value, label]. */
  readonly references: readonly (readonly [number, string])[];
  readonly lines: readonly { readonly contender: ContenderId; readonly points: readonly (readonly [number, number])[] }[];
}

export const CONTENDER_COLORS: Record<ContenderId, string> = {
  tokengate: '#1f77b4',
  'openai-plimit': '#d62728',
  bottleneck: '#2ca02c',
  cookbook: '#ff7f0e',
};

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function chartSvg(title: string, panels: readonly ChartPanel[]): string {
  const panelWidth = 460;
  const panelHeight = 240;
  const margin = { left: 48, right: 12, top: 28, bottom: 34 };
  const columns = 2;
  const rows = Math.ceil(panels.length / columns);
  const width = columns * panelWidth;
  const height = 40 + rows * panelHeight + 30;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
  panels.forEach((panel, index) => {
    const ox = (index % columns) * panelWidth;
    const oy = 40 + Math.floor(index / columns) * panelHeight;
    const plotW = panelWidth - margin.left - margin.right;
    const plotH = panelHeight - margin.top - margin.bottom;
    const maxX = Math.max(panel.windowSeconds, ...panel.lines.flatMap((l) => l.points.map(([x]) => x)));
    const maxY = Math.max(1.2, ...panel.lines.flatMap((l) => l.points.map(([, y]) => y)));
    const sx = (x: number) => ox + margin.left + (x / maxX) * plotW;
    const sy = (y: number) => oy + margin.top + plotH - (y / maxY) * plotH;
    parts.push(`<text x="${ox + margin.left}" y="${oy + 16}" font-size="12" font-weight="bold">${escape(panel.title)}</text>`);
    parts.push(`<rect x="${sx(0)}" y="${sy(maxY)}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
    for (let y = 0; y <= maxY + 1e-9; y += 0.25) {
      parts.push(`<line x1="${sx(0)}" x2="${sx(maxX)}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/>`);
      parts.push(`<text x="${sx(0) - 4}" y="${sy(y) + 4}" text-anchor="end">${Math.round(y * 100)}%</text>`);
    }
    for (let w = 0; w <= maxX; w += panel.windowSeconds) {
      parts.push(`<text x="${sx(w)}" y="${sy(0) + 14}" text-anchor="middle">${Math.round(w)}</text>`);
    }
    parts.push(`<text x="${sx(maxX / 2)}" y="${sy(0) + 28}" text-anchor="middle">seconds since submission (ticks: one ${panel.windowSeconds} s window)</text>`);
    for (const [value, label] of panel.references) {
      parts.push(`<line x1="${sx(0)}" x2="${sx(maxX)}" y1="${sy(value)}" y2="${sy(value)}" stroke="#555" stroke-dasharray="4 3"/>`);
      parts.push(`<text x="${sx(maxX) - 2}" y="${sy(value) - 3}" text-anchor="end" fill="#555">${escape(label)}</text>`);
    }
    for (const line of panel.lines) {
      if (line.points.length === 0) continue;
      const d = line.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${CONTENDER_COLORS[line.contender]}" stroke-width="1.5"/>`);
    }
  });
  const legendY = height - 12;
  Object.entries(CONTENDER_COLORS).forEach(([name, color], i) => {
    const x = 60 + i * 200;
    parts.push(`<line x1="${x}" x2="${x + 24}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${color}" stroke-width="3"/>`);
    parts.push(`<text x="${x + 30}" y="${legendY}">${escape(name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
