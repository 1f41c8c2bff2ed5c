import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { parseDuration, parseRate } from '../core/parse.js';
import { parsePlan, type RatePlan } from '../core/plan.js';
import type { Jitter } from '../core/retry.js';
import { UsageError } from '../errors.js';

/**
 * Settings: every flag becomes a typed value here, with every default in one place (DEFAULTS).
 * Commander only parses strings; commands see these types, never commander objects.
 */

/** LimitSettings are the limiter flags shared by run, http and bench. */
export interface LimitSettings {
  readonly ratePerSec: number;
  readonly burst: number;
  /** concurrency caps attempts in flight; Infinity means no cap. */
  readonly concurrency: number;
  readonly onFull: 'wait' | 'reject';
  readonly retries: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly jitter: Jitter;
  /** timeoutMs ends an attempt that runs longer; Infinity means none. */
  readonly timeoutMs: number;
  /** plan makes the rate follow a plan (--rate 10/s@30s,ramp:...); ratePerSec is then its first rate. */
  readonly plan: RatePlan | undefined;
  /** adaptive: AIMD on the rate between minRatePerSec and ratePerSec (--adaptive, --min-rate). */
  readonly adaptive: boolean;
  readonly minRatePerSec: number;
  /** adaptiveConcurrency: AIMD on the in-flight cap between 1 and concurrency. */
  readonly adaptiveConcurrency: boolean;
  /** keyTemplate picks each job's key for per-key limits (--key); undefined: the job's own key. */
  readonly keyTemplate: string | undefined;
  /** perKey: every key's own bucket and/or cap, besides the shared ones. */
  readonly perKey: { readonly ratePerSec: number; readonly burst: number; readonly concurrency: number } | undefined;
  /** controlFile is re-read when it changes: `rate=20/s burst=5 concurrency=8` (--control). */
  readonly controlFile: string | undefined;
  /** redis shares the bucket and the in-flight cap with every process using the same Redis and key. */
  readonly redis?: RedisSettings | undefined;
}

/** RedisSettings: --redis <url> --key <name> [--redis-fail closed|open] [--lease <dur>]. */
export interface RedisSettings {
  readonly url: string;
  /** key names the shared budget (with --redis, --key is that name, not a per-key template). */
  readonly key: string;
  /** onFail: `closed` admits nothing while Redis fails; `open` falls back to this process's own limits. */
  readonly onFail: 'closed' | 'open';
  /** leaseMs: a shared slot is leased this long and renewed while held; a dead process's slots return after it. */
  readonly leaseMs: number;
}

/** ReportSettings say where the evidence goes. */
export interface ReportSettings {
  readonly reportFile: string | undefined;
  readonly outputFile: string | undefined;
  /** recordFile receives a replayable trace of the run (run and http). */
  readonly recordFile: string | undefined;
  readonly progress: boolean;
  readonly quiet: boolean;
}

/** HaltPolicy is GNU parallel's --halt: stop the run once enough jobs failed (or succeeded, or finished). */
export interface HaltPolicy {
  /** when: `soon` stops taking jobs and lets running ones finish; `now` also kills them. */
  readonly when: 'soon' | 'now';
  readonly on: 'fail' | 'success' | 'done';
  /** count, or a share of all jobs when `percent` is set (then the input must be a file or a count). */
  readonly threshold: number;
  readonly percent: boolean;
}

export interface RunSettings extends LimitSettings, ReportSettings {
  readonly command: readonly string[];
  readonly placeholder: string;
  /** inputFile: a file of lines, "-" for stdin; undefined with a placeholder in the command means stdin. */
  readonly inputFile: string | undefined;
  /** perLine: one job per input line; otherwise the command runs `count` times as a transparent wrapper. */
  readonly perLine: boolean;
  /** appendLine: the command has no placeholder (lines come from --input): each line is its last argument. */
  readonly appendLine: boolean;
  readonly count: number;
  readonly durationMs: number | undefined;
  readonly shell: boolean;
  /** retryOn: exit codes worth retrying; undefined means any non-zero status. */
  readonly retryOn: ReadonlySet<number> | undefined;
  readonly killAfterMs: number;
  readonly keepOrder: boolean;
  readonly tag: boolean;
  readonly joblog: string | undefined;
  readonly resume: 'none' | 'all' | 'failed';
  readonly halt: HaltPolicy | undefined;
}

export const DEFAULTS = {
  rate: 'inf',
  burst: '1',
  concurrency: String(availableParallelism()),
  onFull: 'wait',
  retries: '0',
  backoffBase: '200ms',
  backoffMax: '30s',
  jitter: 'equal',
  timeout: '0',
  killAfter: '5s',
  placeholder: '{}',
  redisFail: 'closed',
  lease: '10s',
  /** bench: how much faster than the trace a real replay plays it; the seed of the simulation's draws. */
  speed: '1',
  seed: '1',
  /**
   * bench: the events --sort may hold to reorder: the trace readers' DEFAULT_SORT_WINDOW (a test holds them
   * equal; importing it would load the readers with every command).
   */
  sortWindow: '10000',
} as const;

/** RawLimitOptions is what commander hands over for the shared flags: strings, as typed. */
export interface RawLimitOptions {
  rate?: string;
  burst?: string;
  concurrency?: string;
  onFull?: string;
  retries?: string;
  backoffBase?: string;
  backoffMax?: string;
  jitter?: string;
  timeout?: string;
  minRate?: string;
  adaptive?: boolean;
  adaptiveConcurrency?: boolean;
  key?: string;
  perKeyRate?: string;
  perKeyBurst?: string;
  perKeyConcurrency?: string;
  control?: string;
  redis?: string;
  redisFail?: string;
  lease?: string;
  report?: string;
  output?: string;
  record?: string;
  progress?: boolean;
  quiet?: boolean;
}

export interface RawRunOptions extends RawLimitOptions {
  input?: string;
  count?: string;
  duration?: string;
  shell?: boolean;
  retryOn?: string;
  killAfter?: string;
  keepOrder?: boolean;
  tag?: boolean;
  joblog?: string;
  resume?: boolean;
  resumeFailed?: boolean;
  halt?: string;
  I?: string;
}

function flagError(flag: string, err: unknown): UsageError {
  return new UsageError(`${flag}: ${err instanceof Error ? err.message : String(err)}`);
}

function rate(flag: string, text: string): number {
  let r: number;
  try {
    r = parseRate(text);
  } catch (err) {
    throw flagError(flag, err);
  }
  if (r <= 0) throw new UsageError(`${flag}: a rate of ${text} would never run anything: use e.g. 10/s, 600/m, 1/250ms or inf`);
  return r;
}

function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw flagError(flag, err);
  }
}

/** integer parses a whole number >= min; `inf` is accepted (as Infinity) only when allowInf. */
export function integer(flag: string, text: string, min: number, example: string, allowInf = false): number {
  const t = text.trim();
  if (allowInf && /^(inf|infinity|unlimited)$/i.test(t)) return Infinity;
  if (!/^\d+$/.test(t) || Number(t) < min) {
    throw new UsageError(`${flag}: invalid value "${text}": use a whole number >= ${min}, e.g. ${example}${allowInf ? ' (or inf)' : ''}`);
  }
  return Number(t);
}

function oneOf<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new UsageError(`${flag}: invalid value "${text}": use one of ${choices.join(', ')}`);
}

/** EXAMPLE_FILES: a file name to show for each flag that writes one. */
const EXAMPLE_FILES: Readonly<Record<string, string>> = {
  '--report': 'report.json',
  '--output': 'results.jsonl',
  '--record': 'trace.jsonl',
  '--joblog': 'jobs.log',
  '--hgrm': 'latency.hgrm',
  '--html': 'report.html',
  '-o, --out': 'trace.jsonl',
};

/**
 * writable checks up front that an output file can be written (its folder exists and is writable, and it
 * is not a folder itself), so a typo fails before any job runs rather than after all of them.
 */
export function writable(flag: string, file: string | undefined): string | undefined {
  if (file === undefined || file === '-') return file;
  if (file === '') throw new UsageError(`${flag}: the file name is empty: e.g. ${flag.split(', ').at(-1)!} ${EXAMPLE_FILES[flag] ?? 'out.txt'}`);
  try {
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory() === true) throw new UsageError(`${flag} ${file}: is a folder, not a file`);
    accessSync(dirname(file), fsConstants.W_OK);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${flag} ${file}: cannot write there (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return file;
}

/**
 * controlFile checks --control's file: it need not exist yet (it is read whenever it appears or changes),
 * but its folder must, or it never could.
 */
function controlFile(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  if (file === '') throw new UsageError('--control: the file name is empty: e.g. --control limits.conf');
  if (statSync(dirname(file), { throwIfNoEntry: false })?.isDirectory() !== true) {
    throw new UsageError(`--control ${file}: there is no folder ${dirname(file)} for it: e.g. --control limits.conf`);
  }
  return file;
}

/** limitSettings turns the shared flags into LimitSettings and ReportSettings, checking each. */
export function limitSettings(o: RawLimitOptions): LimitSettings & ReportSettings {
  const backoffBaseMs = duration('--backoff-base', o.backoffBase ?? DEFAULTS.backoffBase);
  const backoffMaxMs = duration('--backoff-max', o.backoffMax ?? DEFAULTS.backoffMax);
  if (backoffMaxMs < backoffBaseMs) {
    throw new UsageError(`--backoff-max (${o.backoffMax ?? DEFAULTS.backoffMax}) is shorter than --backoff-base (${o.backoffBase ?? DEFAULTS.backoffBase}): e.g. --backoff-base 200ms --backoff-max 30s`);
  }
  const timeoutMs = duration('--timeout', o.timeout ?? DEFAULTS.timeout);
  const concurrency = integer('-j, --concurrency', o.concurrency ?? DEFAULTS.concurrency, 1, '-j 4', true);
  const rateText = o.rate ?? DEFAULTS.rate;
  const plan = ratePlan(rateText);
  const ratePerSec = plan === undefined ? rate('-r, --rate', rateText) : plan.segments[0]!.fromPerSec;
  const adaptive = o.adaptive === true;
  if (adaptive && plan !== undefined) throw new UsageError('--adaptive finds the rate itself: give --rate one ceiling, not a plan, e.g. --adaptive -r 100/s --min-rate 1/s');
  if (adaptive && ratePerSec === Infinity) throw new UsageError('--adaptive needs --rate as its ceiling: e.g. --adaptive -r 100/s --min-rate 1/s');
  if (o.minRate !== undefined && !adaptive) throw new UsageError('--min-rate is the floor of --adaptive: e.g. --adaptive -r 100/s --min-rate 1/s');
  const minRatePerSec = o.minRate === undefined ? Math.min(1, ratePerSec) : rate('--min-rate', o.minRate);
  if (adaptive && minRatePerSec > ratePerSec) throw new UsageError(`--min-rate (${o.minRate}) is above --rate (${rateText}): the floor must not exceed the ceiling`);
  const adaptiveConcurrency = o.adaptiveConcurrency === true;
  if (adaptiveConcurrency && concurrency === Infinity) throw new UsageError('--adaptive-concurrency needs -j as its ceiling: e.g. --adaptive-concurrency -j 32');
  if ((o.perKeyBurst !== undefined || o.key !== undefined) && o.perKeyRate === undefined && o.perKeyConcurrency === undefined && (o as { redis?: string }).redis === undefined) {
    throw new UsageError(`${o.key !== undefined ? '--key' : '--per-key-burst'} needs --per-key-rate or --per-key-concurrency: e.g. --key '{1}' --per-key-rate 5/s --per-key-burst 5`);
  }
  if (o.perKeyBurst !== undefined && o.perKeyRate === undefined) throw new UsageError('--per-key-burst needs --per-key-rate: e.g. --per-key-rate 5/s --per-key-burst 5');
  const perKey =
    o.perKeyRate === undefined && o.perKeyConcurrency === undefined
      ? undefined
      : {
          ratePerSec: o.perKeyRate === undefined ? Infinity : rate('--per-key-rate', o.perKeyRate),
          burst: integer('--per-key-burst', o.perKeyBurst ?? '1', 1, '--per-key-burst 5'),
          concurrency: o.perKeyConcurrency === undefined ? Infinity : integer('--per-key-concurrency', o.perKeyConcurrency, 1, '--per-key-concurrency 2', true),
        };
  const redis = redisSettings(o);
  if (redis !== undefined && (plan !== undefined || adaptive || adaptiveConcurrency || o.control !== undefined)) {
    const flag = plan !== undefined ? 'a --rate plan' : adaptive ? '--adaptive' : adaptiveConcurrency ? '--adaptive-concurrency' : '--control';
    throw new UsageError(`--redis and ${flag}: a shared budget follows its key's config (set by the last process to start with it); give --rate, --burst and -j plain values`);
  }
  if (o.key !== undefined && redis === undefined) checkKeyTemplate(o.key);
  return {
    ratePerSec,
    plan,
    adaptive,
    minRatePerSec,
    adaptiveConcurrency,
    keyTemplate: redis === undefined ? o.key : undefined,
    perKey,
    ...(redis === undefined ? {} : { redis }),
    controlFile: controlFile(o.control),
    burst: integer('-b, --burst', o.burst ?? DEFAULTS.burst, 1, '-b 10'),
    concurrency,
    onFull: oneOf('--on-full', o.onFull ?? DEFAULTS.onFull, ['wait', 'reject'] as const),
    retries: integer('--retries', o.retries ?? DEFAULTS.retries, 0, '--retries 3'),
    backoffBaseMs,
    backoffMaxMs,
    jitter: oneOf('--jitter', o.jitter ?? DEFAULTS.jitter, ['none', 'full', 'equal'] as const),
    timeoutMs: timeoutMs === 0 ? Infinity : timeoutMs,
    reportFile: writable('--report', o.report),
    outputFile: writable('--output', o.output),
    recordFile: writable('--record', o.record),
    progress: o.progress !== false,
    quiet: o.quiet === true,
  };
}

/** redisSettings reads --redis, --key (the budget's name then), --redis-fail and --lease. */
function redisSettings(o: RawLimitOptions): RedisSettings | undefined {
  if (o.redis === undefined) {
    const stray = o.redisFail !== undefined ? '--redis-fail' : o.lease !== undefined ? '--lease' : undefined;
    if (stray !== undefined) throw new UsageError(`${stray} applies to limits shared through Redis: e.g. --redis redis://127.0.0.1:6379 --key ci-api ${stray} ${stray === '--lease' ? '30s' : 'open'}`);
    return undefined;
  }
  let url: URL | undefined;
  try {
    url = new URL(o.redis);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '' || !/^(\/\d*)?$/.test(url.pathname) || url.search !== '' || url.hash !== '') {
    throw new UsageError(`--redis: invalid URL "${o.redis.replace(/(\/\/[^/@]*:)[^/@]*@/, '$1***@')}": use e.g. redis://127.0.0.1:6379, redis://:password@host:6379/0 or rediss:// for TLS`);
  }
  if (o.key === undefined) throw new UsageError('--redis needs --key, the name of the shared budget: e.g. --redis redis://127.0.0.1:6379 --key ci-api');
  if (!/^[A-Za-z0-9._:/@+=-]{1,200}$/.test(o.key)) {
    throw new UsageError(`--key: invalid name "${o.key}" for the shared budget in --redis: use letters, digits and . _ : / @ + = -, e.g. --key ci-api`);
  }
  const leaseMs = duration('--lease', o.lease ?? DEFAULTS.lease);
  if (leaseMs < 500) throw new UsageError(`--lease: ${o.lease} is too short to renew in time: use at least 500ms, e.g. --lease 10s`);
  return { url: o.redis, key: o.key, onFail: oneOf('--redis-fail', o.redisFail ?? DEFAULTS.redisFail, ['closed', 'open'] as const), leaseMs };
}

/** ratePlan reads --rate when it is a plan, naming the flag in its error. */
function ratePlan(text: string): RatePlan | undefined {
  try {
    return parsePlan(text);
  } catch (err) {
    throw flagError('-r, --rate', err);
  }
}

/** KEY_FIELD matches the placeholders of a --key template: {}, {1}..{99}, {host}. */
export const KEY_FIELD = /\{(\d{0,2}|host)\}/g;

/** checkKeyTemplate rejects a --key template with a placeholder it does not know. */
function checkKeyTemplate(template: string): void {
  const unknown = /\{([^{}]*)\}/g;
  for (const m of template.matchAll(unknown)) {
    if (!/^(\d{0,2}|host)$/.test(m[1]!) || m[1] === '0') {
      throw new UsageError(`--key: unknown placeholder "${m[0]}" in "${template}": use {} (the whole line or key), {1}, {2}... (a field) or {host}`);
    }
  }
}

/** parseHalt reads GNU parallel's --halt: `now,fail=1`, `soon,fail=3`, `now,fail=10%`, `soon,success=1`, `now,done=5`. */
export function parseHalt(text: string): HaltPolicy {
  const m = /^(now|soon),(fail|success|done)=(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  if (m === null || (m[4] === '' && !/^\d+$/.test(m[3]!)) || Number(m[3]) <= 0 || (m[4] === '%' && Number(m[3]) > 100)) {
    throw new UsageError(`--halt: invalid value "${text}": use e.g. now,fail=1 or soon,fail=3 or now,fail=10%`);
  }
  return { when: m[1] as 'now' | 'soon', on: m[2] as 'fail' | 'success' | 'done', threshold: Number(m[3]), percent: m[4] === '%' };
}

function exitCodes(text: string): Set<number> {
  const codes = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || lo > 255 || hi > 255 || hi < lo) {
      throw new UsageError(`--retry-on: invalid exit codes "${text}": use e.g. --retry-on 1,75 or --retry-on 1-255`);
    }
    for (let c = lo; c <= hi; c++) codes.add(c);
  }
  codes.delete(0);
  return codes;
}

/** runSettings builds the settings of `throttle run` and checks how the flags fit together. */
export function runSettings(command: readonly string[], o: RawRunOptions): RunSettings {
  if (command.length === 0) {
    throw new UsageError('no command given: put it after --, e.g. throttle -r 5/s -- curl -fsS https://example.test/ or: cat ids | throttle -j 4 -- ./process {}');
  }
  const base = limitSettings(o);
  const placeholder = o.I ?? DEFAULTS.placeholder;
  if (placeholder === '') throw new UsageError('-I: the placeholder must not be empty: use e.g. -I {} or -I %');
  const hasPlaceholder = command.some((arg) => arg.includes(placeholder));
  // A placeholder of one's own that the command does not hold is a slip (and would make a wrapper of it).
  if (!hasPlaceholder && o.I !== undefined && o.I !== DEFAULTS.placeholder) {
    throw new UsageError(`-I ${placeholder}: the command has no ${placeholder} to replace: e.g. throttle -I ${placeholder} -- echo ${placeholder}`);
  }
  const perLine = hasPlaceholder || o.input !== undefined;
  if (perLine && (o.count !== undefined || o.duration !== undefined)) {
    const [flag, example] = o.count !== undefined ? ['--count', '--count 10'] : ['--duration', '--duration 30s'];
    throw new UsageError(`${flag} applies when the command runs without input lines (e.g. throttle ${example} -- ./job.sh); with ${hasPlaceholder ? `"${placeholder}" in the command` : '--input'} there is one job per line`);
  }
  const count = o.count === undefined ? (o.duration === undefined ? 1 : Infinity) : integer('--count', o.count, 1, '--count 10');
  const durationMs = o.duration === undefined ? undefined : duration('--duration', o.duration);
  if (durationMs === 0) throw new UsageError('--duration: must be longer than 0, e.g. --duration 30s');
  if (o.resume === true && o.resumeFailed === true) {
    throw new UsageError('--resume and --resume-failed: pick one, e.g. --joblog jobs.log --resume-failed to run failed jobs again');
  }
  const resume = o.resumeFailed === true ? 'failed' : o.resume === true ? 'all' : 'none';
  const resumeFlag = resume === 'all' ? '--resume' : '--resume-failed';
  if (resume !== 'none' && o.joblog === undefined) {
    throw new UsageError(`${resumeFlag} needs --joblog <file>: e.g. --joblog jobs.log ${resumeFlag}`);
  }
  if (resume !== 'none' && !perLine) {
    throw new UsageError(`${resumeFlag} applies to jobs from input lines (a command with {} or --input): e.g. throttle --joblog jobs.log ${resumeFlag} --input urls.txt -- wget -q {}`);
  }
  return {
    ...base,
    command,
    placeholder,
    inputFile: o.input,
    perLine,
    appendLine: perLine && !hasPlaceholder,
    count,
    durationMs,
    shell: o.shell === true,
    retryOn: o.retryOn === undefined ? undefined : exitCodes(o.retryOn),
    killAfterMs: duration('--kill-after', o.killAfter ?? DEFAULTS.killAfter),
    keepOrder: o.keepOrder === true,
    tag: o.tag === true,
    joblog: writable('--joblog', o.joblog),
    resume,
    halt: o.halt === undefined ? undefined : parseHalt(o.halt),
  };
}

export interface HttpSettings extends LimitSettings, ReportSettings {
  readonly urls: readonly URL[];
  /** urlTemplates are the URLs as typed, for those that hold the placeholder. */
  readonly templates: readonly string[];
  readonly method: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer | undefined;
  /** mode: `load` sends --requests or --duration worth; `lines` one request per input line ({} in a URL); `urls` whole URLs from a file or stdin. */
  readonly mode: 'load' | 'lines' | 'urls';
  readonly requests: number;
  readonly durationMs: number | undefined;
  readonly urlsFile: string | undefined;
  readonly inputFile: string | undefined;
  readonly ok: (status: number) => boolean;
  readonly retryOn: ReadonlySet<number>;
  readonly pause: boolean;
  readonly mutatingConcurrency: number | undefined;
  readonly print: 'body' | 'status' | 'none';
  readonly keepOrder: boolean;
  readonly json: boolean;
}

export interface RawHttpOptions extends RawLimitOptions {
  method?: string;
  header?: string[];
  data?: string;
  dataFile?: string;
  requests?: string;
  duration?: string;
  urls?: string;
  input?: string;
  ok?: string;
  retryOn?: string;
  pause?: boolean;
  mutatingConcurrency?: string;
  print?: string;
  keepOrder?: boolean;
  json?: boolean;
}

/** HTTP_RETRY_DEFAULT: the statuses worth retrying unless --retry-on says otherwise. */
export const HTTP_RETRY_DEFAULT = '429,502,503,504';
const PLACEHOLDER = '{}';
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** statusSet parses a list of HTTP statuses and ranges, e.g. 200-299,304. */
function statusSet(flag: string, text: string): Set<number> {
  const codes = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d{3})(?:-(\d{3}))?\s*$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || lo < 100 || hi > 599 || hi < lo) throw new UsageError(`${flag}: invalid HTTP statuses "${text}": use e.g. ${flag} 200-299,304`);
    for (let c = lo; c <= hi; c++) codes.add(c);
  }
  return codes;
}

/** parseUrl checks one URL: http or https, absolute. `where` says where it came from for the message. */
export function parseUrl(text: string, where: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${where}: invalid URL "${text}": use e.g. http://127.0.0.1:8080/path`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${where}: unsupported URL scheme "${url.protocol}" in "${text}": use http:// or https://`);
  return url;
}

/** httpSettings builds the settings of `throttle http`; everything is checked before any request is sent. */
export function httpSettings(urlArgs: readonly string[], o: RawHttpOptions, readFile: (file: string) => Buffer): HttpSettings {
  const base = limitSettings(o);
  if (urlArgs.length === 0 && o.urls === undefined) {
    throw new UsageError('no URL given: e.g. throttle http -r 50/s --requests 1000 http://127.0.0.1:8080/ or: cat ids | throttle http http://127.0.0.1:8080/items/{}');
  }
  const templates = urlArgs.filter((u) => u.includes(PLACEHOLDER));
  const urls = urlArgs.map((u) => parseUrl(u.split(PLACEHOLDER).join('x'), 'URL'));
  const method = (o.method ?? (o.data !== undefined || o.dataFile !== undefined ? 'POST' : 'GET')).toUpperCase();
  if (!TOKEN.test(method)) throw new UsageError(`-X, --method: invalid method "${o.method}": use e.g. -X POST`);
  const headers = (o.header ?? []).map((h): [string, string] => {
    const colon = h.indexOf(':');
    const name = colon > 0 ? h.slice(0, colon).trim() : '';
    const value = colon > 0 ? h.slice(colon + 1).trim() : '';
    if (!TOKEN.test(name) || /[\r\n\0]/.test(value)) throw new UsageError(`-H, --header: invalid header "${maskHeaderLine(h)}"${colon > 0 ? '' : ' (no ":" after the name)'}: use e.g. -H 'Accept: application/json'`);
    return [name, value];
  });
  if (o.data !== undefined && o.dataFile !== undefined) throw new UsageError('--data and --data-file: pick one');
  let body: Buffer | undefined;
  if (o.data !== undefined) body = Buffer.from(o.data);
  if (o.dataFile !== undefined) {
    try {
      body = readFile(o.dataFile);
    } catch (err) {
      throw new UsageError(`--data-file ${o.dataFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  const mode = o.urls !== undefined ? 'urls' : templates.length > 0 ? 'lines' : 'load';
  if (o.urls !== undefined && urlArgs.length > 0) throw new UsageError('--urls reads every URL from a file or stdin: give no URL arguments with it');
  if (mode !== 'load' && (o.requests !== undefined || o.duration !== undefined)) {
    throw new UsageError(`${o.requests !== undefined ? '--requests' : '--duration'} applies to load mode; with ${mode === 'urls' ? '--urls' : '{} in a URL'} there is one request per input line`);
  }
  if (mode === 'lines' && templates.length !== urls.length) throw new UsageError('{} must appear in every URL or in none');
  if (o.input !== undefined && mode !== 'lines') throw new UsageError('--input applies with {} in the URLs (use --urls <file> for whole URLs)');
  const requests = o.requests === undefined ? (o.duration === undefined ? urls.length : Infinity) : integer('--requests', o.requests, 1, '--requests 1000');
  const durationMs = o.duration === undefined ? undefined : parseDurationFlag('--duration', o.duration);
  if (durationMs === 0) throw new UsageError('--duration: must be longer than 0, e.g. --duration 10s');
  const okSet = o.ok === undefined ? undefined : statusSet('--ok', o.ok);
  const mutatingConcurrency = o.mutatingConcurrency === undefined ? undefined : integer('--mutating-concurrency', o.mutatingConcurrency, 1, '--mutating-concurrency 2', true);
  return {
    ...base,
    urls,
    templates,
    method,
    headers,
    body,
    mode,
    requests,
    durationMs,
    urlsFile: o.urls,
    inputFile: o.input,
    ok: okSet === undefined ? (s) => s >= 200 && s < 400 : (s) => okSet.has(s),
    retryOn: statusSet('--retry-on', o.retryOn ?? HTTP_RETRY_DEFAULT),
    pause: o.pause !== false,
    mutatingConcurrency,
    print: oneOf('--print', o.print ?? (mode === 'load' ? 'none' : 'body'), ['body', 'status', 'none'] as const),
    keepOrder: o.keepOrder === true,
    json: o.json === true,
  };
}

function parseDurationFlag(flag: string, text: string): number {
  return duration(flag, text);
}

/** SECRET_HEADERS are never printed: reports, logs and errors show their values masked. */
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** maskHeader returns a header's value fit for printing. */
export function maskHeader(name: string, value: string): string {
  return SECRET_HEADERS.has(name.toLowerCase()) ? '***' : value;
}

function maskHeaderLine(line: string): string {
  const colon = line.indexOf(':');
  if (colon > 0) return `${line.slice(0, colon)}: ${maskHeader(line.slice(0, colon).trim(), line.slice(colon + 1).trim())}`;
  // No colon: the name cannot be told from the value ("Authorization Bearer <token>", or a bare token), so
  // show at most the first word, and only when something follows it; never the rest.
  const word = /^\s*(\S+)\s+\S/.exec(line);
  return word === null ? '***' : `${word[1]} ***`;
}

/** SweepAxis is one --sweep: a limiter setting and the values to try. */
export interface SweepAxis {
  readonly name: 'rate' | 'burst' | 'concurrency';
  readonly values: readonly number[];
  /** labels are the values as typed, for the table. */
  readonly labels: readonly string[];
}

export interface BenchSettings extends LimitSettings, ReportSettings {
  /** trace is a file, or "-" for stdin. */
  readonly trace: string;
  readonly format: string | undefined;
  /** sort: undefined leaves the format's default (on for results and job logs, written as jobs end). */
  readonly sort: boolean | undefined;
  readonly sortWindow: number | undefined;
  readonly logFormat: string | undefined;
  /** mode: simulate in virtual time, or replay for real against a URL or a command. */
  readonly mode: 'simulate' | 'target' | 'command';
  readonly target: URL | undefined;
  readonly command: readonly string[];
  readonly speed: number;
  /** service is a --service distribution, as typed (parsed by the trace module). */
  readonly service: string | undefined;
  readonly seed: number;
  readonly sweep: readonly SweepAxis[];
  readonly asserts: readonly string[];
  readonly json: boolean;
  readonly hgrm: string | undefined;
  readonly html: string | undefined;
  readonly compare: string | undefined;
}

export interface RawBenchOptions extends RawLimitOptions {
  format?: string;
  sort?: boolean;
  sortWindow?: string;
  logFormat?: string;
  simulate?: boolean;
  target?: string;
  speed?: string;
  service?: string;
  seed?: string;
  sweep?: string[];
  assert?: string[];
  json?: boolean;
  hgrm?: string;
  html?: string;
  compare?: string;
}

/** parseSweep reads one --sweep: `rate=10/s,20/s`, `burst=1,10`, `concurrency=4,8`. */
export function parseSweep(text: string): SweepAxis {
  const eq = text.indexOf('=');
  const name = text.slice(0, eq).trim();
  const labels = text.slice(eq + 1).split(',').map((v) => v.trim());
  const example = 'use e.g. --sweep rate=10/s,20/s,50/s or --sweep burst=1,10 or --sweep concurrency=4,8';
  if (eq <= 0 || labels.some((l) => l === '')) throw new UsageError(`--sweep: invalid value "${text}": ${example}`);
  switch (name) {
    case 'rate':
      return { name, labels, values: labels.map((l) => rate('--sweep rate', l)) };
    case 'burst':
      return { name, labels, values: labels.map((l) => integer('--sweep burst', l, 1, '--sweep burst=1,10')) };
    case 'concurrency':
    case 'j':
      return { name: 'concurrency', labels, values: labels.map((l) => integer('--sweep concurrency', l, 1, '--sweep concurrency=4,8', true)) };
    default:
      throw new UsageError(`--sweep: unknown setting "${name}" in "${text}": ${example}`);
  }
}

/** benchSettings builds the settings of `throttle bench`; the trace itself is checked as it is read. */
export function benchSettings(trace: string | undefined, command: readonly string[], o: RawBenchOptions): BenchSettings {
  if (trace === undefined) throw new UsageError('no trace given: e.g. throttle bench -r 10/s trace.jsonl, or: throttle trace gen --rate 50/s --duration 1m | throttle bench -r 40/s -');
  const base = limitSettings(o);
  if (o.target !== undefined && command.length > 0) throw new UsageError('--target and a command after --: pick one way to replay for real');
  if (o.simulate === true && (o.target !== undefined || command.length > 0)) throw new UsageError('--simulate replays in virtual time: it takes no --target and no command');
  const mode = o.target !== undefined ? 'target' : command.length > 0 ? 'command' : 'simulate';
  const speed = Number(o.speed ?? DEFAULTS.speed);
  if (!(speed > 0) || !Number.isFinite(speed)) throw new UsageError(`--speed: invalid value "${o.speed}": use a factor > 0, e.g. --speed 2 (twice as fast) or --speed 0.5`);
  const sweep = (o.sweep ?? []).map(parseSweep);
  const twice = sweep.find((a, i) => sweep.findIndex((b) => b.name === a.name) !== i);
  if (twice !== undefined) throw new UsageError(`--sweep: ${twice.name} is given twice: list all its values in one, e.g. --sweep ${twice.name}=${twice.name === 'rate' ? '10/s,20/s' : '1,10'}`);
  if (base.redis !== undefined && mode === 'simulate') throw new UsageError('--redis shares limits between real runs: bench --simulate replays in virtual time; replay for real with --target <url> or a command after --');
  if (o.control !== undefined && mode === 'simulate') throw new UsageError('--control changes limits while a real run goes on: the simulation takes no --control (use --rate with a plan)');
  if (base.recordFile !== undefined && mode === 'simulate') {
    throw new UsageError('--record writes a trace of a real replay: the simulation only replays its trace (replay for real with --target <url> or a command after --, e.g. --record run.jsonl -- sleep {})');
  }
  if (sweep.length > 0 && mode !== 'simulate') throw new UsageError('--sweep runs the simulation over a grid: it cannot replay for real');
  if (o.speed !== undefined && mode === 'simulate') throw new UsageError('--speed paces a real replay: the simulation takes no time at all (replay for real with --target <url> or a command after --, e.g. --speed 2 -- sleep {})');
  if (mode !== 'simulate' && o.service !== undefined) {
    throw new UsageError('--service gives the simulation its service times: a real replay takes the time each event really takes (leave it out, or simulate: drop --target and the command, e.g. bench --service exp:50ms trace.jsonl)');
  }
  if (mode !== 'simulate' && o.seed !== undefined) {
    throw new UsageError('--seed makes the simulation\'s draws repeatable: a real replay\'s are not (leave it out, or simulate: drop --target and the command, e.g. bench --seed 7 trace.jsonl)');
  }
  if (sweep.some((a) => a.name === 'rate') && (base.plan !== undefined || base.adaptive)) throw new UsageError(`--sweep rate sets one rate per grid point: it does not go with ${base.adaptive ? '--adaptive' : 'a rate plan'}`);
  if (sweep.some((a) => a.name === 'concurrency') && base.adaptiveConcurrency) throw new UsageError('--sweep concurrency sets one cap per grid point: it does not go with --adaptive-concurrency');
  if (sweep.length > 0 && trace === '-') throw new UsageError('--sweep replays the trace once per grid point: give a trace file, not stdin');
  return {
    ...base,
    trace,
    format: o.format,
    // A window is a window to sort in: naming one asks for sorting.
    sort: o.sort === true || o.sortWindow !== undefined ? true : undefined,
    sortWindow: o.sortWindow === undefined ? undefined : integer('--sort-window', o.sortWindow, 1, '--sort-window 10000'),
    logFormat: o.logFormat,
    mode,
    target: o.target === undefined ? undefined : parseUrl(o.target, '--target'),
    command,
    speed,
    service: o.service,
    seed: integer('--seed', o.seed ?? DEFAULTS.seed, 0, '--seed 42'),
    sweep,
    asserts: o.assert ?? [],
    json: o.json === true,
    hgrm: writable('--hgrm', o.hgrm),
    html: writable('--html', o.html),
    compare: o.compare,
  };
}
