import test from 'ava';
import { Aimd } from '../src/core/aimd.js';
import { ManualClock } from '../src/core/clock.js';
import { InflightLimiter } from '../src/core/inflight.js';
import { Limiter } from '../src/core/limiter.js';
import { parsePlan } from '../src/core/plan.js';
import { RetryPolicy } from '../src/core/retry.js';
import type { SchedulerEvent } from '../src/engine/events.js';
import { type ArrivalMode, Scheduler, type SchedulerOptions } from '../src/engine/scheduler.js';
import { runSimulated } from '../src/engine/simulate.js';
import type { AttemptOutcome, Executor, Job } from '../src/engine/types.js';
import { SimulatedExecutor, type SimulatedWork } from '../src/executors/simulated.js';

function jobs(n: number, key: (i: number) => string = () => 'k', serviceMs = 0): Array<Job<SimulatedWork>> {
  return Array.from({ length: n }, (_, seq) => ({ seq, key: key(seq), payload: { serviceMs } }));
}

function scheduler(
  clock: ManualClock,
  source: Array<Job<SimulatedWork>> | Iterable<Job<SimulatedWork>>,
  o: Partial<SchedulerOptions> & { rate?: number; burst?: number; concurrency?: number; arrivals?: ArrivalMode },
  executor: Executor<SimulatedWork> = new SimulatedExecutor({ clock }),
): Scheduler<SimulatedWork> {
  return new Scheduler<SimulatedWork>(source, executor, {
    clock,
    limiter: new Limiter(o.rate ?? Infinity, o.burst ?? 1, { clock }),
    inflight: new InflightLimiter({ limit: o.concurrency ?? Infinity }),
    onFull: 'wait',
    retry: new RetryPolicy<number>({ retries: 0, baseDelayMs: 1, maxDelayMs: 1 }),
    arrivals: 'read',
    lookahead: 100_000,
    ...o,
  });
}

function starts(s: Scheduler<SimulatedWork>): number[] {
  const at: number[] = [];
  s.events.on((e) => {
    if (e.type === 'started') at.push(Math.round(e.atMs * 1000) / 1000);
  });
  return at;
}

test('a plan step applies to every job still waiting, from its own instant', async (t) => {
  const clock = new ManualClock();
  const plan = parsePlan('10/s@1s,20/s')!;
  const s = scheduler(clock, jobs(15), { rate: 10, plan });
  const at = starts(s);
  const limits: SchedulerEvent[] = [];
  s.events.on((e) => {
    if (e.type === 'limits') limits.push(e);
  });
  await runSimulated(s, clock);
  // 10/s until 1 s (the token due at 1000 was earned at 10/s), then one every 50 ms.
  t.deepEqual(at, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1050, 1100, 1150, 1200]);
  t.deepEqual(
    limits.map((e) => (e.type === 'limits' ? [e.atMs, e.ratePerSec, e.reason] : [])),
    [
      [0, 10, 'plan: 10/s@1s'],
      [1000, 20, 'plan: 20/s'],
    ],
  );
});

test('a ramp admits burst + its integral, then holds its end rate', async (t) => {
  const clock = new ManualClock();
  const s = scheduler(clock, jobs(40), { rate: 10, plan: parsePlan('ramp:10/s..30/s@1s')! });
  const at = starts(s);
  await runSimulated(s, clock);
  // Burst 1 at 0, then 20 tokens over the ramp's second.
  t.is(at.filter((ms) => ms <= 1000).length, 21);
  // Soon after the ramp, one every 1/30 s (the tokens due just after 1000 were reserved up to 50 ms
  // ahead, at the ramp's last step).
  const after = at.filter((ms) => ms > 1100);
  t.true(after.length > 10);
  for (let i = 1; i < after.length; i++) t.true(Math.abs(after[i]! - after[i - 1]! - 1000 / 30) < 1e-3, `${after[i - 1]} -> ${after[i]}`);
});

test('generated load follows the plan: due times are the plan bucket\'s, latency counts from them', async (t) => {
  const clock = new ManualClock();
  const s = scheduler(clock, jobs(14), { rate: 10, plan: parsePlan('10/s@1s,20/s')!, arrivals: 'schedule' });
  const arrivals: number[] = [];
  s.events.on((e) => {
    if (e.type === 'arrived') arrivals.push(Math.round(e.atMs * 1000) / 1000);
  });
  const at = starts(s);
  await runSimulated(s, clock);
  t.deepEqual(arrivals, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1050, 1100, 1150]);
  t.deepEqual(at, arrivals);
});

test('setLimits changes the rate for the jobs still waiting, keeps earned tokens, and is announced', async (t) => {
  const clock = new ManualClock();
  let s: Scheduler<SimulatedWork> | undefined;
  // Job 2 starts at 100 and, 150 ms into its work, turns the rate up to 100/s (as --control would).
  const inner = new SimulatedExecutor({ clock });
  const executor: Executor<SimulatedWork> = {
    async execute(job, ctx) {
      if (job.seq !== 2) return inner.execute(job, ctx);
      await clock.sleep(150);
      s!.setLimits({ ratePerSec: 100 }, 'control');
      return { ok: true, code: 0, retryable: false };
    },
  };
  s = scheduler(clock, jobs(8), { rate: 10, burst: 2 }, executor);
  const at = starts(s);
  const reasons: string[] = [];
  s.events.on((e) => {
    if (e.type === 'limits') reasons.push(`${e.atMs} ${e.ratePerSec}/${e.burst}/${e.concurrency} ${e.reason}`);
  });
  await runSimulated(s, clock);
  // Burst 2 at 0, then 100, 200. The job at the bucket's head at 250 keeps its reservation (due at 300);
  // the bucket, -0.5 token at 250, earns at 100/s from then on: 0 at 255, a full burst of 2 by 300, so
  // the next two start with the head at 300 and the rest every 10 ms.
  t.deepEqual(at, [0, 0, 100, 200, 300, 300, 300, 310]);
  t.deepEqual(reasons, ['250 100/2/Infinity control']);
});

test('per-key caps hold each key while the shared cap holds all; a busy key blocks no other', async (t) => {
  const clock = new ManualClock();
  const keys = ['a', 'a', 'a', 'b', 'c'];
  const s = scheduler(clock, jobs(5, (i) => keys[i]!, 100), { concurrency: 2, perKey: { ratePerSec: Infinity, burst: 1, concurrency: 1 } });
  const at: string[] = [];
  s.events.on((e) => {
    if (e.type === 'started') at.push(`${e.job.key}@${e.atMs}`);
  });
  await runSimulated(s, clock);
  // a runs one at a time; b and c are not held behind the queued a's.
  t.deepEqual(at, ['a@0', 'b@0', 'c@100', 'a@100', 'a@200']);
});

/** LimitedServer answers 200 while its own bucket has a token, else 429: a target with a rate limit. */
class LimitedServer implements Executor<SimulatedWork> {
  readonly bucket: Limiter;
  readonly log: Array<[number, number]> = [];
  constructor(
    readonly clock: ManualClock,
    ratePerSec: number,
    burst: number,
  ) {
    this.bucket = new Limiter(ratePerSec, burst, { clock });
  }
  async execute(job: Job<SimulatedWork>): Promise<AttemptOutcome> {
    await this.clock.sleep(job.payload.serviceMs);
    const ok = this.bucket.allowN(this.clock.now(), 1);
    this.log.push([this.clock.now(), ok ? 200 : 429]);
    return ok ? { ok: true, code: 200, retryable: false } : { ok: false, code: 429, retryable: true, pushback: true };
  }
}

test('--adaptive from 10x a server\'s limit converges near it, with few 429s once there', async (t) => {
  const clock = new ManualClock();
  const server = new LimitedServer(clock, 50, 50);
  const rate = new Aimd({ ceiling: 500, floor: 1, windowMs: 1000 });
  const s = scheduler(clock, jobs(3000, () => 'k', 10), { rate: 500, burst: 1, concurrency: 16, adaptive: { rate } }, server);
  await runSimulated(s, clock);
  const endMs = server.log[server.log.length - 1]![0];
  t.true(endMs > 40_000, String(endMs));
  const late = server.log.filter(([ms]) => ms > 10_000);
  const ok = late.filter(([, code]) => code === 200).length;
  const okPerSec = (ok * 1000) / (endMs - 10_000);
  const share429 = 1 - ok / late.length;
  t.true(okPerSec > 40 && okPerSec <= 51, `ok/s after 10 s: ${okPerSec}`);
  t.true(share429 < 0.05, `429 share after 10 s: ${share429}`);
});

test('--adaptive-concurrency lowers the cap on push-back and climbs again', async (t) => {
  const clock = new ManualClock();
  let running = 0;
  const log: number[] = [];
  // A target that pushes back whenever more than 4 requests are open at once.
  const executor: Executor<SimulatedWork> = {
    async execute(): Promise<AttemptOutcome> {
      running++;
      const crowded = running > 4;
      await clock.sleep(100);
      running--;
      log.push(crowded ? 1 : 0);
      return crowded ? { ok: false, code: 503, retryable: false, pushback: true } : { ok: true, code: 200, retryable: false };
    },
  };
  const concurrency = new Aimd({ ceiling: 32, floor: 1, decrease: 0.5, integer: true });
  const s = scheduler(clock, jobs(2000), { concurrency: 32, adaptive: { concurrency } }, executor);
  let peakLate = 0;
  s.events.on((e) => {
    if (e.type === 'started' && e.job.seq > 1000) peakLate = Math.max(peakLate, s.running);
  });
  await runSimulated(s, clock);
  const lateFailures = log.slice(1000).reduce((a, b) => a + b, 0);
  t.true(concurrency.value() <= 8, String(concurrency.value()));
  t.true(peakLate <= 8, String(peakLate));
  t.true(lateFailures / 1000 < 0.1, String(lateFailures));
});
