import { readFileSync } from 'node:fs';
import { ThrottleError, UsageError } from '../errors.js';

/**
 * main is the command line's entry. It stays cheap to load: commander and each subcommand's module are
 * imported only once they are needed, and `--version` answers before either. (What must start before
 * even this loads is in early.ts.)
 */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  try {
    const { buildProgram } = await import('./program.js');
    let code = 0;
    const program = buildProgram(version(), (c) => {
      code = c;
    });
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    return reportError(err);
  }
}

/** SETTLE_AFTER_CPU_US: the CPU time (user, µs) from which a process settles its heap before it ends. */
const SETTLE_AFTER_CPU_US = 300_000;

/**
 * settleHeap runs a full garbage collection once the command is done, before the process ends. Node 20 can
 * hang at exit (nodejs/node#54918): when the event loop empties, the main thread waits for V8's background
 * tasks, and a background compilation that needs a collection to allocate waits for the main thread: both
 * wait for ever. A run that just did millions of steps ends with compilations in flight and its heap near a
 * collection: a million-event simulation was seen to hang so (in one build of it, once in some forty runs
 * on a loaded 2-core machine). After a full collection (a few milliseconds) a compilation still running
 * finds room to allocate. A process that did little (--version, a short run) has nothing to settle and
 * skips it: loading the two modules it takes would cost it more than the collection (`afterCpuUs`: the CPU
 * time that counts as more).
 */
export function settleHeap(afterCpuUs = SETTLE_AFTER_CPU_US): void {
  if (process.cpuUsage().user < afterCpuUs) return;
  process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
  (process.getBuiltinModule('node:vm').runInNewContext('gc') as () => void)();
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** reportError prints one line for a user's mistake, and says so plainly when it is a bug. */
export function reportError(err: unknown): number {
  if (err instanceof ThrottleError) {
    process.stderr.write(`throttle: ${err.message}\n`);
    return err.exitCode;
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('commander.')) {
    const exitCode = (err as { exitCode?: number }).exitCode ?? 2;
    // Help and version were printed already; other commander errors are usage errors.
    return code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help' ? 0 : exitCode === 0 ? 0 : new UsageError('').exitCode;
  }
  process.stderr.write(`throttle: internal error (a bug, please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 70;
}
