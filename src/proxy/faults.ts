import { parseDuration } from '../core/parse.js';

/**
 * Fault injection for `throttle proxy --inject`: a share of the admitted requests (or connections) is
 * answered with an error status, held for a while, or has its connection reset, so that a client's
 * handling of a misbehaving server can be tested in CI. The draws come from a seeded generator, one per
 * admitted request, so the same seed and the same order of requests give the same faults.
 */

/** FaultRule is one `--inject`: what happens to a share of the requests. */
export interface FaultRule {
  /** text is the rule as typed, for reports. */
  readonly text: string;
  /** probability is the share of admitted requests it applies to, in [0, 1]. */
  readonly probability: number;
  /** status answers with this HTTP status instead of forwarding the request. */
  readonly status: number | undefined;
  /** delayMs holds the request this long before it goes on (to the upstream, or to the status or reset). */
  readonly delayMs: number;
  /** reset ends the client's connection abruptly (TCP RST) instead of answering. */
  readonly reset: boolean;
}

/** FaultSyntaxError is an `--inject` text that is not a rule; the message says what is wrong. */
export class FaultSyntaxError extends Error {}

const EXAMPLE = "use e.g. 'status=503 rate=5%', 'delay=200ms rate=10%' or 'reset rate=1%'";

/**
 * parseFault reads one rule: space-separated terms `status=<100-599>`, `delay=<duration>`, `reset` and
 * `rate=<share>` (a percentage `5%` or a fraction `0.05`; 100% when absent). A rule needs at least one of
 * status, delay and reset; status and reset exclude each other; a delay may come before either.
 */
export function parseFault(text: string): FaultRule {
  let probability = 1;
  let status: number | undefined;
  let delayMs = 0;
  let reset = false;
  const seen = new Set<string>();
  const terms = text.trim().split(/\s+/).filter((term) => term !== '');
  for (const term of terms) {
    const eq = term.indexOf('=');
    const name = eq < 0 ? term : term.slice(0, eq);
    const value = eq < 0 ? undefined : term.slice(eq + 1);
    if (seen.has(name)) throw new FaultSyntaxError(`invalid fault "${text}": "${name}" given twice; ${EXAMPLE}`);
    seen.add(name);
    if (name === 'reset' && value === undefined) {
      reset = true;
    } else if (name === 'status' && value !== undefined && /^\d{3}$/.test(value) && Number(value) >= 100 && Number(value) <= 599) {
      status = Number(value);
    } else if (name === 'delay' && value !== undefined) {
      try {
        delayMs = parseDuration(value);
      } catch {
        throw new FaultSyntaxError(`invalid fault "${text}": bad delay "${value}" (use e.g. delay=200ms); ${EXAMPLE}`);
      }
    } else if (name === 'rate' && value !== undefined) {
      probability = share(value, text);
    } else {
      throw new FaultSyntaxError(`invalid fault "${text}": unknown term "${term}"; ${EXAMPLE}`);
    }
  }
  if (status === undefined && delayMs === 0 && !reset) throw new FaultSyntaxError(`invalid fault "${text}": say what to do (status=, delay= or reset); ${EXAMPLE}`);
  if (status !== undefined && reset) throw new FaultSyntaxError(`invalid fault "${text}": status and reset exclude each other; ${EXAMPLE}`);
  return { text: terms.join(' '), probability, status, delayMs, reset };
}

/** share reads `5%`, `0.5%` or `0.05` as a probability in [0, 1]. */
function share(value: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)(%?)$/.exec(value);
  const p = m === null ? NaN : Number(m[1]) / (m[2] === '%' ? 100 : 1);
  if (!(p >= 0 && p <= 1)) throw new FaultSyntaxError(`invalid fault "${text}": bad rate "${value}" (a share from 0% to 100%, e.g. rate=5% or rate=0.05)`);
  return p;
}

/**
 * FaultPicker draws at most one fault per admitted request. The rules share one draw u in [0, 1): the
 * first rule takes u below its probability, the second the next stretch, and so on, so rules never
 * overlap and each applies at its own rate. Their probabilities must add up to at most 1.
 */
export class FaultPicker {
  readonly rules: readonly FaultRule[];
  /** counts[i] is how many requests rule i was drawn for. */
  readonly counts: number[];
  readonly #random: () => number;
  readonly #bounds: number[];

  constructor(rules: readonly FaultRule[], random: () => number) {
    let sum = 0;
    this.#bounds = rules.map((r) => (sum += r.probability));
    if (sum > 1 + 1e-9) throw new RangeError(`FaultPicker: the rules' rates add up to ${(sum * 100).toFixed(1)}%, more than 100%`);
    this.rules = rules;
    this.counts = rules.map(() => 0);
    this.#random = random;
  }

  /** pick draws once and returns the fault for this request, or undefined (most of the time). */
  pick(): FaultRule | undefined {
    if (this.rules.length === 0) return undefined;
    const u = this.#random();
    for (let i = 0; i < this.#bounds.length; i++) {
      if (u < this.#bounds[i]!) {
        this.counts[i]!++;
        return this.rules[i];
      }
    }
    return undefined;
  }
}
