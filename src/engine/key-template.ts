import type { Job } from './types.js';

/**
 * keyFunction compiles a --key template into a function from a job to its limit key:
 * - `{}` is the job's key (the input line, the URL, the trace's key);
 * - `{1}`, `{2}`... a field of it: split on tabs when it has one, else on runs of blanks (missing: empty);
 * - `{host}` the host (and port) of the job's URL: its target's origin, else the key read as a URL, else
 *   the first http(s) URL in the key (none: empty).
 * Any other text is kept as is.
 */
export function keyFunction(template: string): (job: Job) => string {
  const parts = template.split(/(\{\d{0,2}\}|\{host\})/);
  const usesFields = parts.some((p) => /^\{\d+\}$/.test(p));
  return (job: Job): string => {
    const fields = usesFields ? splitFields(job.key) : [];
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i % 2 === 0) out += p;
      else if (p === '{}') out += job.key;
      else if (p === '{host}') out += hostOf(job);
      else out += fields[Number(p.slice(1, -1)) - 1] ?? '';
    }
    return out;
  };
}

function splitFields(line: string): string[] {
  return line.includes('\t') ? line.split('\t') : line.trim().split(/\s+/);
}

function hostOf(job: Job): string {
  for (const text of [job.group, job.key, /https?:\/\/\S+/.exec(job.key)?.[0]]) {
    if (text === undefined || !/^https?:\/\//.test(text)) continue;
    try {
      return new URL(text).host;
    } catch {
      // not a URL: try the next reading
    }
  }
  return '';
}
