import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Result, Status } from '../../engine/types.js';
import { ExitCode, UsageError } from '../../errors.js';
import { Metrics } from '../../measure/metrics.js';
import { evaluate, formatAssertions, parseAssertion } from '../../report/assert.js';
import { formatCompare, parseReport } from '../../report/compare.js';
import { formatHgrm } from '../../report/hgrm.js';
import { formatDetailedSummary } from '../../report/histogram.js';
import { formatHtml } from '../../report/html.js';
import { buildReport, formatJson } from '../../report/json.js';
import { readLines } from '../../sources/lines.js';
import { loadPaint } from '../../ui/terminal.js';
import { exitOnBrokenPipe, openInput } from '../input.js';
import { type Io, processIo } from '../session.js';
import { writable } from '../settings.js';

export interface RawReportOptions {
  json?: boolean;
  report?: string;
  hgrm?: string;
  html?: string;
  assert?: string[];
  compare?: string;
}

const STATUSES = new Set<Status>(['ok', 'failed', 'rejected', 'interrupted']);

/** parseResultLine checks one line of a Result stream; a malformed one is a usage error naming file and line. */
function parseResultLine(text: string, file: string, line: number): Result {
  let r: Partial<Result>;
  try {
    r = JSON.parse(text) as Partial<Result>;
  } catch {
    throw new UsageError(`${file}:${line}: not JSON: expected one Result per line, as written by --output`);
  }
  const num = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
  if (
    typeof r !== 'object' || r === null ||
    !num(r.seq) || !num(r.arrivalMs) || !num(r.endedMs) || !num(r.attempts) || !num(r.throttleMs) || !num(r.backoffMs) || !num(r.serviceMs) ||
    !STATUSES.has(r.status as Status)
  ) {
    throw new UsageError(`${file}:${line}: not a Result: expected seq, arrivalMs, endedMs, attempts, status, throttleMs, backoffMs and serviceMs, as written by --output`);
  }
  return r as Result;
}

/**
 * reportCommand is `throttle report <results.jsonl...>`: the reports of run, http and bench, rendered from
 * their --output Result streams. Several files fold into one report (histograms add exactly), so runs on
 * several machines give one answer. Exit status 3 when an --assert fails.
 */
export async function reportCommand(files: readonly string[], o: RawReportOptions, io: Io = processIo): Promise<number> {
  exitOnBrokenPipe(io.stdout);
  if (files.length === 0) throw new UsageError('no Result stream given: e.g. throttle report results.jsonl (written by --output)');
  for (const [flag, file] of [['--report', o.report], ['--hgrm', o.hgrm], ['--html', o.html]] as const) writable(flag, file);
  const asserts = (o.assert ?? []).map((text) => {
    try {
      return parseAssertion(text);
    } catch (err) {
      throw new UsageError(`--assert: ${(err as Error).message}`);
    }
  });
  let previous;
  if (o.compare !== undefined) {
    try {
      previous = parseReport(readFileSync(o.compare, 'utf8'), o.compare);
    } catch (err) {
      throw new UsageError(`--compare ${o.compare}: ${(err as Error).message}`);
    }
  }
  const metrics = new Metrics();
  let first = Infinity;
  let last = -Infinity;
  let peak = 0;
  for (const file of files) {
    // Each run's times start near 0; the elapsed time of a merged report is the longest run's.
    let fileFirst = Infinity;
    let fileLast = -Infinity;
    let n = 0;
    // Each job's span, to find the file's in-flight peak once it is read.
    const starts: number[] = [];
    const ends: number[] = [];
    for await (const text of readLines(file === '-' ? io.stdin : openInput(file, 'report', io.stdin))) {
      n++;
      if (text.trim() === '') continue;
      const r = parseResultLine(text, file, n);
      metrics.add(r);
      if (r.startedMs !== undefined) {
        starts.push(r.startedMs);
        ends.push(r.endedMs);
      }
      fileFirst = Math.min(fileFirst, r.arrivalMs);
      fileLast = Math.max(fileLast, r.endedMs);
    }
    peak = Math.max(peak, peakOverlap(starts, ends));
    if (fileLast - fileFirst > last - first) {
      first = fileFirst;
      last = fileLast;
    }
  }
  const elapsedMs = last > first ? last - first : 0;
  const data = metrics.data(elapsedMs, peak);
  const report = buildReport(files.join(' '), 'real', { rate: null, burst: 0, concurrency: null, onFull: 'wait', retries: 0, backoffBaseMs: 0, backoffMaxMs: 0, jitter: 'none', timeoutMs: null, sources: files }, data.summary);
  const paint = await loadPaint(io.stdout, io.env);
  io.stdout.write(o.json === true ? formatJson(report) : formatDetailedSummary(report, data, paint));
  if (o.report !== undefined) await writeFile(o.report, formatJson(report));
  if (o.hgrm !== undefined) await writeFile(o.hgrm, formatHgrm(data.histograms.latency));
  if (o.html !== undefined) await writeFile(o.html, formatHtml(report, data));
  const side = o.json === true ? io.stderr : io.stdout;
  if (previous !== undefined) side.write(formatCompare(previous, report, paint));
  if (asserts.length > 0) {
    const results = asserts.map((a) => evaluate(a, report));
    side.write(formatAssertions(results, paint));
    if (results.some((r) => !r.ok)) return ExitCode.assertion;
  }
  return ExitCode.ok;
}


/**
 * peakOverlap is the most jobs running at once, from their start and end times (a job counts from its first
 * start to its last end, retries' backoff included, so this can overstate slightly).
 */
function peakOverlap(starts: number[], ends: number[]): number {
  const s = Float64Array.from(starts).sort();
  const e = Float64Array.from(ends).sort();
  let peak = 0;
  let running = 0;
  for (let i = 0, j = 0; i < s.length; ) {
    if (s[i]! < e[j]!) {
      running++;
      i++;
      if (running > peak) peak = running;
    } else {
      running--;
      j++;
    }
  }
  return peak;
}
