import type { RunData, Stats, TimelineBucket } from '../measure/metrics.js';
import { type HistogramBars, formatEdge, histogramBars } from './histogram.js';
import type { Report } from './json.js';
import { formatMs, formatRate } from './text.js';

/**
 * The HTML report: one self-contained file that opens anywhere, offline. No scripts, no external fonts, styles
 * or images: charts are inline SVG (tooltips are SVG <title>s), styles one <style> block. Every piece of
 * the run (command, config keys and values, outcome codes) is escaped, since keys and commands may hold `<`
 * and `&`. Size grows only with the timeline, which Metrics bounds to 600 buckets (about 30 KB of points).
 */

/** escapeHtml makes text safe inside elements and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c]!};`);
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:760px;padding:0 1em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}
code{font:13px ui-monospace,monospace;background:#f4f4f4;padding:.1em .3em;word-break:break-all}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.15em .8em .15em 0;text-align:right}
th:first-child,td:first-child{text-align:left}th{font-weight:600}
svg{width:100%;height:auto;display:block}svg text{font:10px system-ui,sans-serif;fill:#555}
.bar{fill:#4a7fb5}.zero{fill:#9ab}.axis{fill:none;stroke:#999}.mean{fill:none;stroke:#4a7fb5;stroke-width:1.5}
.max{fill:none;stroke:#d9822b;stroke-width:1;stroke-dasharray:3 2}.dot{fill:#4a7fb5}
figure{margin:1em 0}figcaption{color:#666;font-size:.9em}
`.trim();

const W = 640;
const H = 220;
const LEFT = 56;
const RIGHT = 24;
const TOP = 22;
const BOTTOM = 34;
const PLOT_W = W - LEFT - RIGHT;
const PLOT_H = H - TOP - BOTTOM;
/** ZERO_LABEL_ROOM: room kept between the zeros' "0" and the label at the right edge of their bar. */
const ZERO_LABEL_ROOM = 26;

/** n renders a coordinate with at most one decimal, to keep the file small. */
function n(x: number): string {
  return String(Math.round(x * 10) / 10);
}

function text(x: number, y: number, body: string, anchor: 'start' | 'middle' | 'end' = 'middle'): string {
  return `<text x="${n(x)}" y="${n(y)}" text-anchor="${anchor}">${escapeHtml(body)}</text>`;
}

function svgOpen(label: string): string {
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(label)}">`;
}

function axes(yTicks: Array<[number, string]>): string {
  const parts = [`<path class="axis" d="M${LEFT} ${TOP}V${TOP + PLOT_H}H${LEFT + PLOT_W}"/>`];
  for (const [y, label] of yTicks) parts.push(text(LEFT - 4, y + 3, label, 'end'));
  return parts.join('');
}

function emptyChart(label: string): string {
  return `${svgOpen(label)}${axes([])}${text(LEFT + PLOT_W / 2, TOP + PLOT_H / 2, 'no values')}</svg>`;
}

/** barChart draws a histogram: one bar per log-spaced range, a separate first bar for zeros. */
function barChart(label: string, hist: HistogramBars): string {
  if (hist.total === 0) return emptyChart(label);
  const rows = hist.bars.map((b) => ({ title: `${formatEdge(b.fromMs)} – ${formatEdge(b.toMs)}`, edge: formatEdge(b.fromMs), count: b.count, zero: false }));
  if (hist.zeros > 0) rows.unshift({ title: '0ms', edge: '', count: hist.zeros, zero: true });
  const maxCount = Math.max(...rows.map((r) => r.count));
  const band = PLOT_W / rows.length;
  const y = (count: number): number => TOP + PLOT_H - (count / maxCount) * PLOT_H;
  const parts = [svgOpen(label), axes([[y(maxCount), String(maxCount)], [y(0), '0']])];
  rows.forEach((r, i) => {
    const x = LEFT + i * band;
    const pct = ((r.count / hist.total) * 100).toFixed(1);
    parts.push(
      `<rect class="${r.zero ? 'zero' : 'bar'}" x="${n(x + 1)}" y="${n(y(r.count))}" width="${n(Math.max(1, band - 2))}" height="${n(TOP + PLOT_H - y(r.count))}">` +
        `<title>${escapeHtml(`${r.title}: ${r.count} (${pct}%)`)}</title></rect>`,
    );
    // zeros are labelled under their bar (left of its middle when bars are narrow: the next label, the
    // first range's lower edge, stands at the bar's right edge); ranges at their lower edge, and the last
    // one at its upper edge too
    parts.push(text(r.zero ? x + Math.max(4, Math.min(band / 2, band - ZERO_LABEL_ROOM)) : x, H - BOTTOM + 14, r.zero ? '0' : r.edge));
  });
  const last = hist.bars[hist.bars.length - 1];
  if (last !== undefined) parts.push(text(LEFT + PLOT_W, H - BOTTOM + 14, formatEdge(last.toMs)));
  parts.push('</svg>');
  return parts.join('');
}

/** lineChart draws the mean and the max of one metric per timeline bucket, over the run. */
function lineChart(label: string, timeline: readonly TimelineBucket[], bucketMs: number, metric: 'latency' | 'throttle'): string {
  const points = timeline
    .filter((b) => b.count > 0)
    .map((b) => ({
      t: b.startMs + bucketMs / 2,
      mean: metric === 'latency' ? b.latencyMeanMs : b.throttleMeanMs,
      max: metric === 'latency' ? b.latencyMaxMs : b.throttleMaxMs,
    }));
  const lastBucket = timeline[timeline.length - 1];
  if (points.length === 0 || lastBucket === undefined) return emptyChart(label);
  const spanMs = lastBucket.startMs + bucketMs;
  const top = Math.max(...points.map((p) => p.max)) || 1;
  const x = (t: number): number => LEFT + (t / spanMs) * PLOT_W;
  const y = (v: number): number => TOP + PLOT_H - (v / top) * PLOT_H;
  const parts = [svgOpen(label), axes([[y(top), formatMs(top)], [y(top / 2), formatMs(top / 2)], [y(0), '0']])];
  for (const k of [0, 0.25, 0.5, 0.75, 1]) parts.push(text(x(k * spanMs), H - BOTTOM + 14, k === 0 ? '0' : formatMs(k * spanMs)));
  for (const series of ['max', 'mean'] as const) {
    if (points.length === 1) {
      const p = points[0]!;
      parts.push(`<circle class="dot" cx="${n(x(p.t))}" cy="${n(y(p[series]))}" r="2"/>`);
    } else {
      parts.push(`<polyline class="${series}" points="${points.map((p) => `${n(x(p.t))},${n(y(p[series]))}`).join(' ')}"/>`);
    }
  }
  parts.push(`<path class="mean" d="M${LEFT} 9h16"/>`, text(LEFT + 20, 12, 'mean', 'start'));
  parts.push(`<path class="max" d="M${LEFT + 60} 9h16"/>`, text(LEFT + 80, 12, 'max', 'start'));
  parts.push(text(LEFT + PLOT_W, 12, `per ${formatMs(bucketMs)} of arrivals`, 'end'));
  parts.push('</svg>');
  return parts.join('');
}

function figure(svg: string, caption: string): string {
  return `<figure>${svg}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

function row(cells: readonly string[], header = false): string {
  const tag = header ? 'th' : 'td';
  return `<tr>${cells.map((c) => `<${tag}>${escapeHtml(c)}</${tag}>`).join('')}</tr>`;
}

function statsRow(name: string, s: Stats): string {
  if (s.count === 0) return row([name, '0', '', '', '', '', '', '', '']);
  return row([name, String(s.count), ...[s.min, s.mean, s.p50, s.p90, s.p99, s.p999, s.max].map(formatMs)]);
}

/** configValue renders one config entry for people: null is "unlimited" or "none", *Ms a duration, rate a rate. */
function configValue(key: string, value: unknown): string {
  if (value === null || value === undefined) return key === 'rate' || key === 'concurrency' ? 'unlimited' : 'none';
  if (typeof value === 'number' && key.endsWith('Ms')) return formatMs(value);
  if (typeof value === 'number' && key === 'rate') return formatRate(value);
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? String(value);
}

/**
 * formatHtml renders the report as one self-contained HTML page: the summary table, the latency and
 * throttle histograms, latency and throttle over the run (mean and max per timeline bucket), the outcomes
 * and the config.
 */
export function formatHtml(report: Report, data: RunData): string {
  const { jobs, throughput } = report;
  const title = `throttle report: ${report.command}`;
  const summary = [
    row(['jobs', String(jobs.total)]),
    row(['succeeded', String(jobs.succeeded)]),
    row(['failed', String(jobs.failed)]),
    row(['rejected', String(jobs.rejected)]),
    row(['interrupted', String(jobs.interrupted)]),
    row(['retried', String(jobs.retried)]),
    row(['attempts', String(jobs.attempts)]),
    row(['elapsed', formatMs(report.elapsedMs)]),
    row(['offered rate', throughput.offered === null ? 'n/a' : formatRate(throughput.offered)]),
    row(['achieved rate', formatRate(throughput.achieved)]),
    row(['attempt rate', formatRate(throughput.attempts)]),
    row(['peak in flight', String(report.inflight.peak)]),
  ].join('\n');
  const stats = [
    row(['', 'count', 'min', 'mean', 'p50', 'p90', 'p99', 'p99.9', 'max'], true),
    statsRow('latency', report.latencyMs),
    statsRow('throttle', report.throttleMs),
    statsRow('backoff', report.backoffMs),
    statsRow('service', report.serviceMs),
  ].join('\n');
  const outcomes = Object.entries(report.outcomes)
    .map(([code, count]) => row([code, String(count)]))
    .join('\n');
  const config = Object.entries(report.config)
    .map(([key, value]) => row([key, configValue(key, value)]))
    .join('\n');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>throttle report</h1>
<p><code>${escapeHtml(report.command)}</code><br>${escapeHtml(report.mode)} run, ${jobs.total} jobs in ${escapeHtml(formatMs(report.elapsedMs))}</p>
<h2>Summary</h2>
<table>
${summary}
</table>
<table>
${stats}
</table>
<h2>Latency</h2>
${figure(barChart('latency histogram', histogramBars(data.histograms.latency)), 'Latency: arrival to final completion, log-spaced ranges.')}
${figure(lineChart('latency over time', data.timeline, data.bucketMs, 'latency'), 'Latency by arrival time.')}
<h2>Throttle</h2>
${figure(barChart('throttle histogram', histogramBars(data.histograms.throttle)), 'Throttle: time held by the token bucket and the in-flight cap.')}
${figure(lineChart('throttle over time', data.timeline, data.bucketMs, 'throttle'), 'Throttle by arrival time.')}
<h2>Outcomes</h2>
<table>
${row(['code', 'jobs'], true)}
${outcomes}
</table>
<h2>Config</h2>
<table>
${config}
</table>
</body>
</html>
`;
}
