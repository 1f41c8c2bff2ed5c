/**
 * The job log of GNU parallel (--joblog): a header, then one tab-separated row per finished job.
 *   Seq  Host  Starttime  JobRuntime  Send  Receive  Exitval  Signal  Command
 * Seq counts input lines from 1; Starttime is Unix seconds with milliseconds; JobRuntime is seconds,
 * right-aligned in ten characters; Exitval is -1 when the job never produced a status (it could not start,
 * or timed out); Signal is the number of the signal that ended it, else 0.
 */
export const JOBLOG_HEADER = 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n';

export interface JoblogRow {
  /** seq is 0-based here, as in Results; the row shows seq + 1. */
  readonly seq: number;
  readonly startEpochMs: number;
  readonly runtimeMs: number;
  readonly receivedBytes: number;
  readonly exitval: number;
  readonly signal: number;
  /** command is the command line as run, already quoted; it must not contain a newline. */
  readonly command: string;
}

/** formatJoblogRow renders one row, with its newline. */
export function formatJoblogRow(r: JoblogRow): string {
  const start = (r.startEpochMs / 1000).toFixed(3);
  const runtime = (r.runtimeMs / 1000).toFixed(3).padStart(10);
  return `${r.seq + 1}\t:\t${start}\t${runtime}\t0\t${r.receivedBytes}\t${r.exitval}\t${r.signal}\t${r.command}\n`;
}

/** JoblogEntry is what resuming needs from a row: did the job succeed. */
export interface JoblogEntry {
  readonly exitval: number;
  readonly signal: number;
}

/**
 * parseJoblog reads a job log's rows into a map from 0-based seq to entry. When a seq appears more than
 * once (a job run again by --resume-failed), the last row wins. Throws an Error naming the line when a row
 * is malformed.
 */
export function parseJoblog(text: string): Map<number, JoblogEntry> {
  const entries = new Map<number, JoblogEntry>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '' || (i === 0 && line.startsWith('Seq\t'))) continue;
    const cols = line.split('\t');
    // Strict integers: Number() would read "" as 0 (a success, for --resume-failed) and "0x1" as 1.
    const seq = integer(cols[0]);
    const exitval = integer(cols[6]);
    const signal = integer(cols[7]);
    if (cols.length < 9 || seq === undefined || seq < 1 || exitval === undefined || signal === undefined) {
      throw new Error(`line ${i + 1} is not a job log row (Seq, Host, Starttime, JobRuntime, Send, Receive, Exitval, Signal, Command)`);
    }
    entries.set(seq - 1, { exitval, signal });
  }
  return entries;
}

function integer(text: string | undefined): number | undefined {
  return text !== undefined && /^-?\d+$/.test(text) ? Number(text) : undefined;
}
