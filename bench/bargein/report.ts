/** Statistics and the bench's own pictures (SVG, no dependency). */

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function summarize(values: number[]): { n: number; p50: number; p95: number; p99: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : NaN };
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#7f7f7f'];

interface Series {
  label: string;
  points: [number, number][];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

/** A line chart with axes, ticks and a legend. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[], opts: { xLog?: boolean; step?: boolean } = {}): string {
  const W = 720;
  const H = 420;
  const m = { l: 70, r: 170, t: 40, b: 55 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (!all.length) return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><text x="20" y="30">${esc(title)}: no data</text></svg>`;
  const fx = (x: number) => (opts.xLog ? Math.log10(Math.max(x, 1e-9)) : x);
  let x0 = Math.min(...all.map(([x]) => fx(x)));
  let x1 = Math.max(...all.map(([x]) => fx(x)));
  let y0 = Math.min(0, ...all.map(([, y]) => y));
  let y1 = Math.max(...all.map(([, y]) => y));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) y1 = y0 + 1;
  const pad = (y1 - y0) * 0.05;
  y1 += pad;
  if (y0 < 0) y0 -= pad;
  const px = (x: number) => m.l + ((fx(x) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2 - m.r / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  // Axes and ticks.
  out.push(`<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`);
  out.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`);
  for (let i = 0; i <= 5; i++) {
    const yv = y0 + ((y1 - y0) * i) / 5;
    out.push(`<line x1="${m.l - 4}" y1="${py(yv)}" x2="${W - m.r}" y2="${py(yv)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 8}" y="${py(yv) + 4}" text-anchor="end">${+yv.toFixed(Math.abs(yv) < 10 ? 2 : 0)}</text>`);
  }
  const xt = opts.xLog ? [...new Set(all.map(([x]) => x))].sort((a, b) => a - b) : Array.from({ length: 6 }, (_, i) => (opts.xLog ? 0 : x0 + ((x1 - x0) * i) / 5));
  for (const xv of xt) {
    out.push(`<text x="${px(xv)}" y="${H - m.b + 18}" text-anchor="middle">${+xv.toFixed(Math.abs(xv) < 10 ? 1 : 0)}</text>`);
  }
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text x="16" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(m.t + H - m.b) / 2})">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (!pts.length) return;
    let d = '';
    pts.forEach(([x, y], k) => {
      if (k === 0) d += `M${px(x).toFixed(1)},${py(y).toFixed(1)}`;
      else if (opts.step) d += `H${px(x).toFixed(1)}V${py(y).toFixed(1)}`;
      else d += `L${px(x).toFixed(1)},${py(y).toFixed(1)}`;
    });
    out.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="2"/>`);
    if (!opts.step) for (const [x, y] of pts) out.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${c}"/>`);
    out.push(`<rect x="${W - m.r + 12}" y="${m.t + i * 18}" width="12" height="12" fill="${c}"/>`);
    out.push(`<text x="${W - m.r + 30}" y="${m.t + i * 18 + 10}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Empirical CDF points of `values`. */
export function cdf(values: number[]): [number, number][] {
  const s = [...values].sort((a, b) => a - b);
  return s.map((v, i) => [v, (i + 1) / s.length]);
}
