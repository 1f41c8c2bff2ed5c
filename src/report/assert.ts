import { parseDuration, parseRate } from '../core/parse.js';
import { UsageError } from '../errors.js';
import type { Stats } from '../measure/metrics.js';
import type { Report } from './json.js';
import { type Paint, formatMs, formatRate, plain } from './text.js';

/**
 * `--assert` expressions: checks on a finished run's report that make CI fail on a breach.
 *
 *   <fn>(<metric>) <op> <duration>   p99(latency) < 250ms      fn: min mean p50 p90 p99 p999 (or p99.9) max
 *   count(<metric>) <op> <n>         count(latency) >= 1000    metric: latency throttle backoff service
 *   <counter> <op> <n> | <n>%        failed == 0, retried < 5%  counter: failed rejected retried succeeded
 *                                                                        interrupted attempts jobs
 *   achieved <op> <n>% offered       achieved >= 95% offered
 *   achieved <op> <rate>             achieved > 100/s
 *
 * op is one of < <= > >= == !=. Durations need a unit (`250ms`, `2s`; only `0` may go without), a
 * percentage of a counter is of all jobs, and a rate is what --rate accepts (`100` means 100/s).
 */

export type Op = '<' | '<=' | '>' | '>=' | '==' | '!=';
export type StatFn = 'min' | 'mean' | 'p50' | 'p90' | 'p99' | 'p999' | 'max' | 'count';
export type MetricName = 'latency' | 'throttle' | 'backoff' | 'service';
export type Counter = 'failed' | 'rejected' | 'retried' | 'succeeded' | 'interrupted' | 'attempts' | 'jobs';

/** Assertion is a parsed `--assert`; `text` is the expression as written, whitespace collapsed. */
export type Assertion =
  /** value is in ms, or a number of values for `count`. */
  | { readonly kind: 'stat'; readonly text: string; readonly fn: StatFn; readonly metric: MetricName; readonly op: Op; readonly value: number }
  /** value is a number of jobs, or with `percent` a percentage of all jobs. */
  | { readonly kind: 'counter'; readonly text: string; readonly counter: Counter; readonly op: Op; readonly value: number; readonly percent: boolean }
  /** value is a rate per second, or with `ofOffered` a percentage of the offered rate. */
  | { readonly kind: 'achieved'; readonly text: string; readonly op: Op; readonly value: number; readonly ofOffered: boolean };

/** AssertionResult is one evaluated assertion: whether it held, its text, and the actual value as shown. */
export interface AssertionResult {
  readonly ok: boolean;
  readonly text: string;
  readonly actual: string;
}

const OPS: readonly Op[] = ['<', '<=', '>', '>=', '==', '!='];
const FNS: readonly StatFn[] = ['min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max', 'count'];
const METRICS: readonly MetricName[] = ['latency', 'throttle', 'backoff', 'service'];
const COUNTERS: readonly Counter[] = ['failed', 'rejected', 'retried', 'succeeded', 'interrupted', 'attempts', 'jobs'];

const EXAMPLE = 'e.g. p99(latency) < 250ms';

/** orList renders ["a", "b", "c"] as "a, b or c". */
function orList(words: readonly string[]): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

function isOneOf<T extends string>(list: readonly T[], word: string): word is T {
  return (list as readonly string[]).includes(word);
}

const LHS = /^([A-Za-z][\w.]*)\s*(?:\(\s*([^()]*?)\s*\))?/;
const WHOLE = /^\d+$/;
const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)$/;
const PERCENT = /^(\d+(?:\.\d*)?|\.\d+)\s*%$/;
const PERCENT_OFFERED = /^(\d+(?:\.\d*)?|\.\d+)\s*%\s*(?:of\s+)?offered$/i;

/**
 * parseAssertion parses one `--assert` expression. Throws a UsageError naming the expression and the part
 * that is wrong, with a correct example, e.g.
 * `unknown metric "latncy" in "p99(latncy) < 250ms": use latency, throttle, backoff or service`.
 */
export function parseAssertion(input: string): Assertion {
  const text = input.trim().replace(/\s+/g, ' ');
  const fail = (message: string): never => {
    throw new UsageError(message);
  };
  if (text === '') fail(`empty assertion: use ${EXAMPLE}`);
  const q = JSON.stringify(text);

  const lhs = LHS.exec(text);
  if (lhs === null) return fail(`invalid assertion ${q}: expected <fn>(<metric>) <op> <value>, <counter> <op> <value> or achieved <op> <rate>, ${EXAMPLE}`);
  const name = lhs[1]!;
  const arg = lhs[2];
  const rest = text.slice(lhs[0].length).trim();
  const opMatch = /^[<>=!]+/.exec(rest);
  if (opMatch === null) {
    if (rest.startsWith('(')) return fail(`invalid assertion ${q}: expected <fn>(<metric>) <op> <value>, ${EXAMPLE}`);
    return fail(`missing operator in ${q}: use ${orList(OPS)}, ${EXAMPLE}`);
  }
  const op = opMatch[0];
  if (!isOneOf(OPS, op)) return fail(`unknown operator ${JSON.stringify(op)} in ${q}: use ${orList(OPS)}`);
  const value = rest.slice(op.length).trim();
  if (value === '') return fail(`missing value in ${q}: ${EXAMPLE}`);

  if (arg !== undefined) {
    const fn = name.toLowerCase() === 'p99.9' ? 'p999' : name.toLowerCase();
    if (!isOneOf(FNS, fn)) return fail(`unknown function ${JSON.stringify(name)} in ${q}: use ${orList(FNS)}`);
    const metric = arg.toLowerCase();
    if (!isOneOf(METRICS, metric)) return fail(`unknown metric ${JSON.stringify(arg)} in ${q}: use ${orList(METRICS)}`);
    if (fn === 'count') {
      if (!WHOLE.test(value)) return fail(`invalid count ${JSON.stringify(value)} in ${q}: use a whole number, e.g. count(${metric}) >= 100`);
      return { kind: 'stat', text, fn, metric, op, value: Number(value) };
    }
    return { kind: 'stat', text, fn, metric, op, value: durationValue(value, q) };
  }

  const word = name.toLowerCase();
  if (isOneOf(COUNTERS, word)) {
    const percent = PERCENT.exec(value);
    if (percent !== null) return { kind: 'counter', text, counter: word, op, value: Number(percent[1]), percent: true };
    if (WHOLE.test(value)) return { kind: 'counter', text, counter: word, op, value: Number(value), percent: false };
    return fail(`invalid count ${JSON.stringify(value)} in ${q}: use a number of jobs or a percentage of all jobs, e.g. ${word} <= 10 or ${word} < 1%`);
  }
  if (word === 'achieved') {
    const share = PERCENT_OFFERED.exec(value);
    if (share !== null) return { kind: 'achieved', text, op, value: Number(share[1]), ofOffered: true };
    try {
      return { kind: 'achieved', text, op, value: parseRate(value), ofOffered: false };
    } catch {
      return fail(`invalid rate ${JSON.stringify(value)} in ${q}: use a rate such as 100/s, or a share of the offered rate such as 95% offered`);
    }
  }
  if (isOneOf(METRICS, word)) return fail(`missing function in ${q}: use ${orList(FNS)} around the metric, e.g. p99(${word}) ${op} ${value}`);
  if (isOneOf(FNS, word)) return fail(`missing metric in ${q}: use ${orList(METRICS)}, e.g. ${word}(latency) ${op} ${value}`);
  return fail(`unknown metric ${JSON.stringify(name)} in ${q}: use ${orList([...COUNTERS, 'achieved'])}, or a function such as p99(latency)`);
}

/** durationValue parses the right-hand side of a time assertion; a bare number other than 0 has no unit. */
function durationValue(value: string, q: string): number {
  if (DECIMAL.test(value) && Number(value) !== 0) throw new UsageError(`missing unit in ${q}: use a duration such as ${value}ms or ${value}s`);
  try {
    return parseDuration(value);
  } catch {
    throw new UsageError(`invalid duration ${JSON.stringify(value)} in ${q}: use a duration such as 250ms or 2s`);
  }
}

function compare(actual: number, op: Op, expected: number): boolean {
  switch (op) {
    case '<':
      return actual < expected;
    case '<=':
      return actual <= expected;
    case '>':
      return actual > expected;
    case '>=':
      return actual >= expected;
    case '==':
      return actual === expected;
    case '!=':
      return actual !== expected;
  }
}

/** percentText renders a percentage with at most two decimals. */
function percentText(p: number): string {
  return `${Math.round(p * 100) / 100}%`;
}

const STATS_KEY: Record<MetricName, 'latencyMs' | 'throttleMs' | 'backoffMs' | 'serviceMs'> = {
  latency: 'latencyMs',
  throttle: 'throttleMs',
  backoff: 'backoffMs',
  service: 'serviceMs',
};

/**
 * evaluate checks an assertion against a report. Percentages are compared exactly, as `actual × 100 op
 * value × total`. `achieved <op> N% offered` does not hold when the offered rate is unknown (fewer than two
 * jobs): a check that cannot be made must not pass CI.
 */
export function evaluate(a: Assertion, report: Report): AssertionResult {
  switch (a.kind) {
    case 'stat': {
      const stats: Stats = report[STATS_KEY[a.metric]];
      const actual = stats[a.fn];
      return { ok: compare(actual, a.op, a.value), text: a.text, actual: a.fn === 'count' ? String(actual) : formatMs(actual) };
    }
    case 'counter': {
      const { jobs } = report;
      const actual = a.counter === 'jobs' ? jobs.total : jobs[a.counter];
      if (!a.percent) return { ok: compare(actual, a.op, a.value), text: a.text, actual: String(actual) };
      const share = jobs.total > 0 ? (actual / jobs.total) * 100 : 0;
      const ok = compare(actual * 100, a.op, a.value * jobs.total);
      return { ok, text: a.text, actual: `${actual} (${percentText(share)})` };
    }
    case 'achieved': {
      const { achieved, offered } = report.throughput;
      if (!a.ofOffered) return { ok: compare(achieved, a.op, a.value), text: a.text, actual: formatRate(achieved) };
      if (offered === null || offered <= 0) {
        const why = report.jobs.total < 2 ? 'fewer than two jobs' : 'every job arrived at one instant';
        return { ok: false, text: a.text, actual: `${formatRate(achieved)}, offered rate unknown (${why})` };
      }
      const ok = compare(achieved * 100, a.op, a.value * offered);
      return { ok, text: a.text, actual: `${formatRate(achieved)}, ${percentText((achieved / offered) * 100)} of ${formatRate(offered)} offered` };
    }
  }
}

/** formatAssertions renders one line per result: `  ✔ p99(latency) < 250ms (actual 120ms)` or `  ✘ ...`. */
export function formatAssertions(results: readonly AssertionResult[], paint: Paint = plain): string {
  return results
    .map((r) => (r.ok ? `  ${paint.ok('✔')} ${r.text} ${paint.dim(`(actual ${r.actual})`)}\n` : `  ${paint.bad(`✘ ${r.text}`)} (actual ${r.actual})\n`))
    .join('');
}
