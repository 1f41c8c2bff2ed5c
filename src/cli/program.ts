import { Command, Option } from 'commander';
import { DEFAULTS } from './settings.js';

/** addLimitOptions declares the limiter flags shared by run, http and bench. */
export function addLimitOptions(cmd: Command): Command {
  return cmd
    .option('-r, --rate <rate>', 'token bucket refill rate: 10/s, 600/m, 1/250ms, or inf', DEFAULTS.rate)
    .option('-b, --burst <n>', 'token bucket size: how many may start at once after a pause', DEFAULTS.burst)
    .option('-j, --concurrency <n>', 'in-flight cap: attempts running at once (default: CPUs, inf for none)')
    .addOption(new Option('--on-full <mode>', 'when the in-flight cap is full: wait for a slot, or reject at once like a 429').choices(['wait', 'reject']).default(DEFAULTS.onFull))
    .option('--retries <n>', 'retries of a failed job (extra attempts)', DEFAULTS.retries)
    .option('--backoff-base <dur>', 'first retry delay; doubles per failure', DEFAULTS.backoffBase)
    .option('--backoff-max <dur>', 'cap on any retry delay', DEFAULTS.backoffMax)
    .addOption(new Option('--jitter <kind>', 'randomise retry delays: none, full (0..d) or equal (d/2..d)').choices(['none', 'full', 'equal']).default(DEFAULTS.jitter))
    .option('--timeout <dur>', 'end an attempt that runs longer (0: never)', DEFAULTS.timeout)
    .option('--report <file>', 'write the JSON report to this file')
    .option('--output <file>', 'stream every job\'s Result as JSON Lines to this file ("-" for stdout)')
    .option('--record <file>', 'write a trace of the run (arrivals, keys, service times, statuses) for throttle bench')
    .option('--no-progress', 'no progress bar (it shows only on a terminal, and never when CI is set)')
    .option('-q, --quiet', 'no summary at the end');
}

const RUN_EXAMPLES = `
Examples:
  # a transparent wrapper: retries with backoff, exit status passes through
  throttle --retries 3 --timeout 30s -- ./deploy.sh

  # one job per input line, at most 20 starts per second, 4 at a time
  cat ids.txt | throttle -r 20/s -j 4 -- curl -fsS https://api.example.test/items/{}

  # a job log, and a second run that does only what the first did not finish
  throttle -j 8 --joblog jobs.log --input urls.txt -- wget -q {}
  throttle -j 8 --joblog jobs.log --resume --input urls.txt -- wget -q {}
`;

const HTTP_EXAMPLES = `
Examples:
  # a load test: 50 requests/s for 30 s, 8 in flight, latency measured from each request's due time
  throttle http -r 50/s -j 8 --duration 30s http://127.0.0.1:8080/health

  # one request per input line, retried on 429/5xx, honouring Retry-After
  cat ids.txt | throttle http -r 10/s --retries 5 -H 'Authorization: Bearer $TOKEN' https://api.example.test/items/{}

  # whole URLs from a file, statuses only, report for CI
  throttle http --urls urls.txt --print status --report http.json
`;

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const BENCH_EXAMPLES = `
Examples:
  # what-if: replay a recorded trace in virtual time at 40/s, 8 in flight; fail CI on a slow p99
  throttle bench -r 40/s -j 8 --assert 'p99(latency) < 250ms' trace.jsonl

  # tune on a real access log: a table over a grid of limits
  throttle bench --log-format combined --sweep rate=10/s,20/s,50/s --sweep concurrency=4,8 access.log

  # replay for real, twice as fast, against a local server, or as commands
  throttle bench --target http://127.0.0.1:8080 --speed 2 trace.jsonl
  throttle bench trace.jsonl -- sleep {}
`;

/**
 * buildProgram declares every subcommand and its flags. Each action imports its module only when it runs,
 * so starting up costs commander and nothing else.
 */
export function buildProgram(version: string, setExitCode: (code: number) => void): Command {
  const program = new Command('throttle')
    .description('Run commands under a token bucket, an in-flight cap and exponential retry, and report what happened.')
    .version(version, '-V, --version')
    .enablePositionalOptions()
    .exitOverride()
    .showSuggestionAfterError(true);
  const errorsOneLine = (cmd: Command): Command =>
    cmd.exitOverride().configureOutput({
      // One line: commander puts its "(Did you mean --retries?)" on a line of its own.
      outputError: (text, write) => write(`throttle: ${text.replace(/^error: /, '').trimEnd().replace(/\s*\n\s*/g, ' ')} (see throttle ${cmd.name() === 'throttle' ? '' : `${cmd.name()} `}--help)\n`),
    });
  errorsOneLine(program);

  const run = addLimitOptions(
    program
      .command('run', { isDefault: true })
      .description('Run a command once as a wrapper, or once per input line when an argument contains {}.')
      .usage('[options] -- <command> [args...]')
      .argument('[command...]', 'the command and its arguments; {} is replaced by each input line'),
  )
    .option('--input <file>', 'read input lines from this file ("-" for stdin) instead of stdin')
    .option('-I <str>', 'the placeholder replaced by each input line', DEFAULTS.placeholder)
    .option('--count <n>', 'run the command n times (no input lines)')
    .option('--duration <dur>', 'run the command repeatedly for this long (no input lines)')
    .option('--shell', 'run through sh -c; each line is substituted single-quoted, so it stays one word')
    .option('--retry-on <codes>', 'exit codes to retry, e.g. 1,75 or 1-255 (default: any non-zero)')
    .option('--kill-after <dur>', 'after SIGTERM (timeout, Ctrl-C), send SIGKILL this much later', DEFAULTS.killAfter)
    .option('-k, --keep-order', 'print each job\'s whole output in input order')
    .option('--tag', 'prefix each output line with the job\'s input line and a tab')
    .option('--joblog <file>', 'append a GNU parallel job log: one row per finished job')
    .option('--resume', 'skip jobs the --joblog shows as run')
    .option('--resume-failed', 'skip jobs the --joblog shows as succeeded; run failed ones again')
    .option('--halt <when,cond=n>', 'stop early like GNU parallel: now,fail=1 | soon,fail=3 | now,fail=10% | soon,success=1')
    .passThroughOptions()
    .addHelpText('after', RUN_EXAMPLES)
    .action(async (command: string[], options: Record<string, unknown>) => {
      const { runSettings } = await import('./settings.js');
      const settings = runSettings(command, options);
      const { runCommand } = await import('./commands/run.js');
      setExitCode(await runCommand(settings));
    });
  errorsOneLine(run);

  const http = addLimitOptions(
    program
      .command('http')
      .description('Send HTTP requests under the same limits: a load test, or one request per input line.')
      .usage('[options] <url...>')
      .argument('[url...]', 'target URLs, used in turn; {} in them takes each input line, URL-encoded'),
  )
    .option('-X, --method <method>', 'request method (default: GET, or POST with --data)')
    .option('-H, --header <header>', "request header 'Name: value' (repeatable)", collect)
    .option('--data <text>', 'request body')
    .option('--data-file <file>', 'request body from a file')
    .option('--requests <n>', 'load mode: send n requests in all (default: one per URL)')
    .option('--duration <dur>', 'load mode: send requests for this long')
    .option('--urls <file>', 'read whole URLs, one per line, from a file ("-" for stdin)')
    .option('--input <file>', 'read input lines for {} from this file instead of stdin')
    .option('--ok <codes>', 'statuses that count as success (default: 200-399)')
    .option('--retry-on <codes>', 'statuses to retry, besides connection errors', '429,502,503,504')
    .option('--no-pause', 'do not hold an origin after a 429/503 with Retry-After')
    .option('--mutating-concurrency <n>', 'separate in-flight cap for POST, PUT, PATCH and DELETE')
    .addOption(new Option('--print <what>', 'write each response to stdout: body, status or none (default: none in load mode, else body)').choices(['body', 'status', 'none']))
    .option('-k, --keep-order', 'print responses in input order')
    .option('--json', 'print the JSON report on stdout')
    .addHelpText('after', HTTP_EXAMPLES)
    .action(async (urls: string[], options: Record<string, unknown>) => {
      const { readFileSync } = await import('node:fs');
      const { httpSettings } = await import('./settings.js');
      const settings = httpSettings(urls, options, (file) => readFileSync(file));
      const { httpCommand } = await import('./commands/http.js');
      setExitCode(await httpCommand(settings));
    });
  errorsOneLine(http);

  const bench = addLimitOptions(
    program
      .command('bench')
      .description('Replay a trace through the limiter: simulated in virtual time, or for real; report histograms.')
      .usage('[options] <trace|-> [-- <command> {}]')
      .argument('[trace]', 'a trace file, or - for stdin')
      .argument('[command...]', 'replay for real: run this command per event ({} = the event\'s key)'),
  )
    .addOption(new Option('--format <format>', 'trace format (default: detected)').choices(['jsonl', 'csv', 'access-log', 'har', 'joblog', 'results', 'urls', 'vegeta']))
    .option('--sort', 'accept events out of order within a window (on by default for results and job logs)')
    .option('--sort-window <n>', 'how many events --sort may hold to reorder', '10000')
    .addOption(new Option('--log-format <layout>', 'access log layout').choices(['common', 'combined', 'nginx-timed', 'apache-timed']))
    .option('--simulate', 'replay in virtual time (the default without --target or a command)')
    .option('--target <url>', 'replay for real: each event a request to this URL (key "METHOD /path")')
    .option('--speed <x>', 'real replay: play the trace x times faster', '1')
    .option('--service <dist>', 'service time when the trace has none: 50ms, uniform:10ms..100ms, exp:50ms, normal:100ms,20ms')
    .option('--seed <n>', 'seed for --service draws and jitter in the simulation', '1')
    .option('--per-key-rate <rate>', 'give every trace key its own bucket at this rate, besides the shared one (a job waits for the later)')
    .option('--per-key-burst <n>', 'size of each per-key bucket (default: 1)')
    .option('--sweep <name=values>', 'simulate over a grid: rate=10/s,20/s | burst=1,10 | concurrency=4,8 (repeatable)', collect)
    .option('--assert <expr>', "fail (exit 3) unless it holds: 'p99(latency) < 250ms', 'rejected < 1%', 'achieved >= 95% offered' (repeatable)", collect)
    .option('--json', 'print the JSON report on stdout instead of the text report')
    .option('--hgrm <file>', 'write the latency histogram in HdrHistogram .hgrm format')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--compare <report.json>', 'print the changes from an earlier --report')
    .addHelpText('after', BENCH_EXAMPLES)
    .action(async (trace: string | undefined, command: string[], options: Record<string, unknown>) => {
      const { benchSettings } = await import('./settings.js');
      const settings = benchSettings(trace, command, options);
      const { benchCommand } = await import('./commands/bench.js');
      setExitCode(await benchCommand(settings));
    });
  errorsOneLine(bench);

  const trace = program.command('trace').description('Make traces for throttle bench.');
  const gen = trace
    .command('gen')
    .description('Write a synthetic JSON Lines trace; the same seed gives the same trace.')
    .addOption(new Option('--pattern <pattern>', 'arrival pattern').choices(['constant', 'poisson', 'burst', 'ramp', 'diurnal']).default('constant'))
    .option('-r, --rate <rate>', 'mean arrival rate, e.g. 50/s')
    .option('--duration <dur>', 'how long the trace lasts, e.g. 1m')
    .option('--seed <n>', 'random seed', '1')
    .option('--service <dist>', 'add service times: 50ms, uniform:10ms..100ms, exp:50ms, normal:100ms,20ms, lognormal:100ms,50ms')
    .option('--burst-size <n>', 'events per group with --pattern burst', '10')
    .option('--key <key>', 'key of every event')
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .addHelpText('after', `
Examples:
  throttle trace gen --pattern poisson --rate 50/s --duration 1m --seed 7 --service exp:40ms > trace.jsonl
  throttle trace gen --pattern burst --rate 100/s --duration 10s | throttle bench -r 80/s -j 8 -
`)
    .action(async (options: Record<string, unknown>) => {
      const { traceGenCommand } = await import('./commands/trace.js');
      setExitCode(await traceGenCommand(options));
    });
  errorsOneLine(trace);
  errorsOneLine(gen);

  const report = program
    .command('report')
    .description('Render the report of one or more --output Result streams (merged exactly).')
    .usage('[options] <results.jsonl...>')
    .argument('[files...]', 'Result streams written by --output ("-" for stdin)')
    .option('--json', 'print the JSON report instead of text')
    .option('--report <file>', 'also write the JSON report to this file')
    .option('--hgrm <file>', 'write the latency histogram in HdrHistogram .hgrm format')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--assert <expr>', "fail (exit 3) unless it holds, e.g. 'p99(latency) < 250ms' (repeatable)", collect)
    .option('--compare <report.json>', 'print the changes from an earlier report')
    .addHelpText('after', `
Examples:
  throttle http -r 100/s --duration 1m --output a.jsonl http://127.0.0.1:8080/
  throttle report a.jsonl b.jsonl --html report.html --assert 'p99(latency) < 50ms'
`)
    .action(async (files: string[], options: Record<string, unknown>) => {
      const { reportCommand } = await import('./commands/report.js');
      setExitCode(await reportCommand(files, options));
    });
  errorsOneLine(report);

  // `run` is what people type without a subcommand, so `throttle --help` shows its flags and examples,
  // followed by the other subcommands.
  program.helpInformation = () => {
    const others = program.commands
      .filter((c) => c.name() !== 'run')
      .map((c) => `  ${`throttle ${c.name()} --help`.padEnd(26)}${c.description()}`)
      .join('\n');
    return `${run.helpInformation().replace(/^Usage: throttle run /, 'Usage: throttle [run] ')}${RUN_EXAMPLES}\nOther commands:\n${others}\n`;
  };
  return program;
}
