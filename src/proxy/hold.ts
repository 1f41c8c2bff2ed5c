import type { Admitted, Rejected, Verdict } from './admission.js';
import type { FaultRule } from './faults.js';

/** HoldSteps are what a Hold calls as its request (or connection) moves on. */
export interface HoldSteps {
  /** start forwards an admitted request that has no fault to play. */
  start(): void;
  /** fault plays an admitted request's injected fault, after its delay (if any). */
  fault(fault: FaultRule): void;
  /** rejected answers a request the limits turned away (never called once the client has gone). */
  rejected(v: Rejected): void;
}

/**
 * Hold is one request's (HTTP) or connection's (TCP) way through admission, the part both proxies share:
 * it follows the verdict (waiting for it when the limits queue the request), holds the ticket, plays an
 * injected delay, then calls the step that comes next. close() stops a wait and a delay under way; the
 * caller gives the ticket back with release() once the exchange is recorded.
 */
export class Hold {
  /** ticket is the admission held, once admitted. */
  ticket: Admitted | undefined;
  /** throttleMs is how long the limits held the request. */
  throttleMs = 0;
  /** closed is set once the client went away or the exchange ended. */
  closed = false;
  readonly #steps: HoldSteps;
  #abortWait: (() => void) | undefined;
  #delay: NodeJS.Timeout | undefined;

  constructor(steps: HoldSteps) {
    this.#steps = steps;
  }

  /** follow acts on an admission verdict: go on, answer the rejection, or wait for the verdict to come. */
  follow(v: Verdict): void {
    if (v.state === 'admitted') return this.#admitted(v);
    if (v.state === 'rejected') return this.#rejected(v);
    this.#abortWait = v.abort;
    void v.verdict.then((settled) => {
      this.#abortWait = undefined;
      if (settled.state === 'admitted') this.#admitted(settled);
      else this.#rejected(settled);
    });
  }

  /** close stops a wait for a verdict (giving back what it held) and a pending injected delay. */
  close(): void {
    this.closed = true;
    this.#abortWait?.();
    clearTimeout(this.#delay);
  }

  /** release gives the ticket back (idempotent). */
  release(): void {
    this.ticket?.release();
  }

  #admitted(ticket: Admitted): void {
    this.ticket = ticket;
    this.throttleMs = ticket.waitedMs;
    if (this.closed) {
      ticket.release();
      return;
    }
    const fault = ticket.fault;
    if (fault === undefined) return this.#steps.start();
    if (fault.delayMs > 0) this.#delay = setTimeout(() => this.#fault(fault), fault.delayMs);
    else this.#fault(fault);
  }

  #fault(fault: FaultRule): void {
    if (!this.closed) this.#steps.fault(fault);
  }

  #rejected(v: Rejected): void {
    this.throttleMs = v.waitedMs;
    if (this.closed || v.reason === 'gone') return;
    this.#steps.rejected(v);
  }
}
