import { UsageError } from '../../errors.js';

/**
 * TraceEvent is one arrival in a trace: a request or a job, when it came and, as far as the trace knows,
 * what it cost. Every reader yields these, and `bench` turns each into a Job.
 *
 * Times are milliseconds. A trace is either timed or untimed throughout:
 * - timed (every format but `urls` and `vegeta`): `tMs` is the arrival, counted from the trace's start.
 *   Formats that carry absolute times (`ts`, access logs, HAR, job logs, results) are rebased so that the
 *   first event (after any sorting) is at 0; JSON Lines and CSV with `t` are already relative and are kept
 *   as written, so a trace may say that its first event comes at t = 2 s.
 * - untimed (`urls`, `vegeta`, and JSON Lines or CSV without `t`/`ts`): `tMs` is absent. The trace is then
 *   only a list of what to send, and the scheduler decides when, from `--rate` (like a Job without
 *   `arrivalMs`). Readers never mix the two: a timed trace with one untimed line is an error.
 */
export interface TraceEvent {
  /** tMs is the arrival in ms from the trace's start, or undefined in an untimed trace. */
  readonly tMs?: number;
  /** key is what identifies the event to people: the trace's key, "METHOD /path", the command; may be "". */
  readonly key: string;
  /** tokens is how many tokens the job takes from the bucket (default 1). */
  readonly tokens?: number;
  /** serviceMs is how long the work took when the trace was recorded. */
  readonly serviceMs?: number;
  /**
   * status is the recorded outcome: an exit status or an HTTP status. -1 means "no status": the job never
   * produced one (the GNU parallel convention), e.g. a HAR entry without a response, or a Result that ended
   * in a timeout or an error name. It fails in a simulation, as it failed when recorded.
   */
  readonly status?: number;
  /** method and url describe an HTTP request (access logs, HAR, URL lists, vegeta targets). */
  readonly method?: string;
  readonly url?: string;
  /** headers are request headers in order, repeats allowed (vegeta targets). */
  readonly headers?: ReadonlyArray<readonly [name: string, value: string]>;
  /** bodyFile names a file whose contents are the request body (vegeta's `@path`); it is not read here. */
  readonly bodyFile?: string;
}

/** TraceFormat names a trace format; see readTrace for each one's shape. */
export type TraceFormat = 'jsonl' | 'csv' | 'access-log' | 'har' | 'joblog' | 'results' | 'urls' | 'vegeta';

/** TRACE_FORMATS lists every TraceFormat, in the order help text shows them. */
export const TRACE_FORMATS: readonly TraceFormat[] = ['jsonl', 'csv', 'access-log', 'har', 'joblog', 'results', 'urls', 'vegeta'];

/**
 * TraceError is a trace that cannot be read as it stands: a malformed line, an event out of order, a format
 * that cannot be told. It is a usage error (exit status 2) and its message always starts with
 * `file:line: ` and says what was expected there, e.g.
 * `trace.jsonl:7: "t" must be a number of seconds >= 0`.
 */
export class TraceError extends UsageError {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.file = file;
    this.line = line;
  }
}
