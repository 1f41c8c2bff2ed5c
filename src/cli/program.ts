import { Command, Option } from 'commander';
import { COALESCE_DEFAULTS } from './coalesce-settings.js';
import { exitOnBrokenPipe } from './input.js';
import { PROXY_DEFAULTS } from './proxy-defaults.js';
import { DEFAULTS } from './settings.js';

/**
 * addLimitOptions declares the limiter flags shared by run, http and bench; `quiet` says what -q leaves out
 * (the summary, unless a command's report is what it prints).
 */
export function addLimitOptions(cmd: Command, quiet = 'no summary at the end'): Command {
  return cmd
    .option('-r, --rate <rate>', 'token bucket refill rate: 10/s, 600/m, 1/250ms, or inf; or a plan: 10/s@30s,50/s@1m,ramp:50/s..200/s@2m', DEFAULTS.rate)
    .option('-b, --burst <n>', 'token bucket size: how many may start at once after a pause', DEFAULTS.burst)
    .option('-j, --concurrency <n>', 'in-flight cap: attempts running at once (default: CPUs, inf for none)')
    .addOption(new Option('--on-full <mode>', 'when the in-flight cap is full: wait for a slot, or reject at once like a 429').choices(['wait', 'reject']).default(DEFAULTS.onFull))
    .option('--retries <n>', 'retries of a failed job (extra attempts)', DEFAULTS.retries)
    .option('--backoff-base <dur>', 'first retry delay; doubles per failure', DEFAULTS.backoffBase)
    .option('--backoff-max <dur>', 'cap on any retry delay', DEFAULTS.backoffMax)
    .addOption(new Option('--jitter <kind>', 'randomise retry delays: none, full (0..d) or equal (d/2..d)').choices(['none', 'full', 'equal']).default(DEFAULTS.jitter))
    .option('--timeout <dur>', 'end an attempt that runs longer (0: never)', DEFAULTS.timeout)
    .option('--adaptive', 'find the rate: lower it on push-back (429, 503, Retry-After, refused; --retry-on codes), raise it while jobs succeed; --rate is the ceiling')
    .option('--min-rate <rate>', 'the floor of --adaptive (default: 1/s)')
    .option('--adaptive-concurrency', 'the same for the in-flight cap, between 1 and -j')
    .option('--key <template>', "each job's key for per-key limits: {} the line (or trace key), {1} its first field, {host} its URL's host; with --redis, the shared budget's name")
    .option('--per-key-rate <rate>', 'give every key its own token bucket at this rate, besides the shared one')
    .option('--per-key-burst <n>', 'size of each per-key bucket (default: 1)')
    .option('--per-key-concurrency <n>', 'in-flight cap per key, besides -j')
    .option('--control <file>', 'apply `rate=20/s burst=5 concurrency=8` from this file whenever it changes (SIGUSR1/SIGUSR2 raise/lower -j by one)')
    .option('--redis <url>', 'share --rate, --burst and -j with every process using this Redis and --key <name>, e.g. redis://127.0.0.1:6379')
    .addOption(new Option('--redis-fail <mode>', `when Redis fails: closed admits nothing until it is back, open falls back to this process's own limits (default: ${DEFAULTS.redisFail})`).choices(['closed', 'open']))
    .option('--lease <dur>', `a shared slot is leased this long, renewed while held: a killed process frees its slots after it (default: ${DEFAULTS.lease})`)
    .option('--report <file>', 'write the JSON report to this file')
    .option('--output <file>', 'stream every job\'s Result as JSON Lines to this file ("-" for stdout)')
    .option('--record <file>', 'write a trace of the run (arrivals, keys, service times, statuses) for throttle bench')
    .option('--no-progress', 'no progress bar (it shows only on a terminal, and never when CI is set)')
    .option('-q, --quiet', quiet);
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
 * writeHelp writes help (or the version) to stdout; a reader that stops early (`| head`) ends the process
 * quietly with 141, as SIGPIPE would, rather than with an EPIPE stack trace.
 */
function writeHelp(text: string): void {
  if (process.stdout.listenerCount('error') === 0) exitOnBrokenPipe(process.stdout);
  process.stdout.write(text);
}

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
      writeOut: writeHelp,
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
    .option('--input <file>', 'read input lines from this file ("-" for stdin) instead of stdin; without {} in the command, each line is its last argument')
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
    // bench's report is what it prints: quiet, it prints only its checks.
    'no report on stdout (files are still written; --assert still prints its checks)',
  )
    .addOption(new Option('--format <format>', 'trace format (default: detected)').choices(['jsonl', 'csv', 'access-log', 'har', 'joblog', 'results', 'urls', 'vegeta']))
    .option('--sort', 'accept events out of order within a window (on by default for results and job logs)')
    .option('--sort-window <n>', `how many events --sort may hold to reorder (implies --sort; default: ${DEFAULTS.sortWindow})`)
    .addOption(new Option('--log-format <layout>', 'access log layout').choices(['common', 'combined', 'nginx-timed', 'apache-timed']))
    .option('--simulate', 'replay in virtual time (the default without --target or a command)')
    .option('--target <url>', 'replay for real: each event a request to this URL (key "METHOD /path")')
    .option('--speed <x>', `real replay: play the trace x times faster (default: ${DEFAULTS.speed})`)
    .option('--service <dist>', 'simulation: service time when the trace has none: 50ms, uniform:10ms..100ms, exp:50ms, normal:100ms,20ms')
    .option('--seed <n>', `simulation: seed for --service draws and jitter (default: ${DEFAULTS.seed})`)
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
      // A long trace file starts being read while the replay's code loads.
      const prefetched = (await import('./trace-input.js')).prefetchTrace(settings);
      const { benchCommand } = await import('./commands/bench.js');
      setExitCode(await benchCommand(settings, undefined, prefetched));
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

  const coalesce = program
    .command('coalesce')
    .description('Run a command when stdin lines trigger it, at a bounded frequency: a burst of triggers becomes one run.')
    .usage('[options] -- <command> [args...]')
    .argument('[command...]', 'the command and its arguments (it gets no stdin: stdin lines are the triggers)')
    .option('--min-interval <dur>', 'runs start at least this far apart, beyond --burst back-to-back runs', COALESCE_DEFAULTS.minInterval)
    .option('--max-interval <dur>', 'a run at least this often even without triggers (0: none)', COALESCE_DEFAULTS.maxInterval)
    .option('-b, --burst <n>', 'runs allowed back to back before --min-interval applies', COALESCE_DEFAULTS.burst)
    .option('--run-on-start', 'run once at start, before any trigger')
    .option('--no-drain', 'at the end of stdin, exit at once instead of first serving the triggers still pending')
    .option('--retry-after <dur>', 'retry a failed run after this fixed delay (unlimited unless --retries)')
    .option('--retries <n>', 'retries of a failed run (default: 0, or inf with --retry-after)')
    .option('--backoff-base <dur>', `first retry delay; doubles per failure (default: ${DEFAULTS.backoffBase})`)
    .option('--backoff-max <dur>', `cap on any retry delay (default: ${DEFAULTS.backoffMax})`)
    .addOption(new Option('--jitter <kind>', `randomise retry delays: none, full (0..d) or equal (d/2..d) (default: ${DEFAULTS.jitter})`).choices(['none', 'full', 'equal']))
    .option('--timeout <dur>', 'end a run that takes longer (0: never)', DEFAULTS.timeout)
    .option('--kill-after <dur>', 'after SIGTERM (timeout, Ctrl-C), send SIGKILL this much later', DEFAULTS.killAfter)
    .option('--shell', 'run the command through sh -c')
    .option('--tag', 'prefix each output line with the run number and the triggers it served, and a tab')
    .option('--report <file>', 'write the JSON report to this file')
    .option('-q, --quiet', 'no summary at the end, no line per failed run')
    .passThroughOptions()
    .addHelpText('after', `
Examples:
  # rebuild when files change: at most every 2 s (two back to back), and at least every 10 minutes
  inotifywait -m -r src | throttle coalesce --min-interval 2s --max-interval 10m --burst 2 -- npm run build

  # re-sync on events, retrying a failed sync after 30 s
  ./watch-events | throttle coalesce --min-interval 5s --retry-after 30s -- ./sync.sh

  # refresh a cache at most once a minute however often it is asked, and once at start
  tail -F requests.log | throttle coalesce --run-on-start --min-interval 1m --tag --report refresh.json -- ./refresh-cache
`)
    .action(async (command: string[], options: Record<string, unknown>) => {
      const { coalesceSettings } = await import('./coalesce-settings.js');
      const settings = coalesceSettings(command, options);
      const { coalesceCommand } = await import('./commands/coalesce.js');
      setExitCode(await coalesceCommand(settings));
    });
  errorsOneLine(coalesce);

  const proxy = program
    .command('proxy')
    .description('Put the limits in front of a service: a rate-limiting, load-balancing HTTP (or TCP) proxy that answers 429.')
    .usage('[options] <upstream...>')
    .argument('[upstream...]', 'upstreams, used in turn: http://host:port[/prefix] (or host:port with --tcp)')
    .option('--listen <host:port>', 'where to listen (port 0: any free port; printed as "listening host:port" on stderr)', PROXY_DEFAULTS.listen)
    .option('--public', 'allow a --listen address that is not loopback')
    .option('--tcp', 'a TCP proxy: bytes copied both ways, one connection = one request')
    .option('-r, --rate <rate>', 'token bucket refill rate: 10/s, 600/m, 1/250ms, or inf', PROXY_DEFAULTS.rate)
    .option('-b, --burst <n>', 'token bucket size: how many may pass at once after a pause', PROXY_DEFAULTS.burst)
    .option('-j, --concurrency <n>', 'in-flight cap: requests forwarded at once (GET, HEAD, OPTIONS when --mutating-concurrency is set)', PROXY_DEFAULTS.concurrency)
    .option('--mutating-concurrency <n>', 'separate in-flight cap for the other methods (POST, PUT, PATCH, DELETE, ...)')
    .addOption(new Option('--on-full <mode>', 'over the rate or the cap: wait for room (up to --max-wait), or answer 429 at once').choices(['wait', 'reject']).default(PROXY_DEFAULTS.onFull))
    .option('--max-wait <dur>', 'wait mode: a request that would wait longer is answered 429', PROXY_DEFAULTS.maxWait)
    .option('--per-key-rate <rate>', 'give every client (address, or --per-key-header value) a bucket of its own too')
    .option('--per-key-burst <n>', 'size of each per-key bucket (default: 1)')
    .option('--per-key-header <name>', 'key the per-key buckets by this header instead of the client address')
    .option('--exempt-header <header>', "requests carrying this 'Name: value' skip every limit; the header is not forwarded (repeatable)", collect)
    .option('--sticky <header>', 'keep requests with the same value of this header on one upstream')
    .option('--inject <fault>', "fault injection: 'status=503 rate=5%', 'delay=200ms rate=10%', 'reset rate=1%' (repeatable)", collect)
    .option('--seed <n>', 'seed of the fault draws: the same seed gives the same faults', PROXY_DEFAULTS.seed)
    .option('--timeout <dur>', 'answer 504 when an upstream takes longer than this for its headers, or pauses this long in its body (default: 300s)')
    .option('--drain <dur>', 'on SIGTERM or SIGINT: stop accepting, let requests under way finish this long, then close', PROXY_DEFAULTS.drain)
    .option('--report <file>', 'write the JSON report to this file (at exit, and on SIGUSR1)')
    .option('--json', 'print the JSON report on stdout at exit')
    .option('--no-progress', 'no live line (it shows only on a terminal, and never when CI is set)')
    .option('-q, --quiet', 'no report on stderr at exit')
    .addHelpText('after', `
Examples:
  # protect a service: 100 requests/s (bursts of 20), 16 in flight, 4 of them writes; excess waits up to 2 s
  throttle proxy --listen 127.0.0.1:8080 -r 100/s -b 20 -j 16 --mutating-concurrency 4 --max-wait 2s http://127.0.0.1:9000

  # a rate-limited fake for CI: 429 + Retry-After beyond 5/s, 5% 503s, reproducible with --seed
  throttle proxy --listen 127.0.0.1:0 -r 5/s --on-full reject --inject 'status=503 rate=5%' --seed 7 http://127.0.0.1:9000

  # spread TCP connections over two replicas, at most 50 open
  throttle proxy --tcp --listen 127.0.0.1:5432 -j 50 10.0.0.5:5432 10.0.0.6:5432
`)
    .action(async (upstreams: string[], options: Record<string, unknown>) => {
      const { proxySettings } = await import('./proxy-settings.js');
      const settings = proxySettings(upstreams, options);
      const { proxyCommand } = await import('./commands/proxy.js');
      setExitCode(await proxyCommand(settings));
    });
  errorsOneLine(proxy);

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
