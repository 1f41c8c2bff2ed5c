// Test files whose assertions involve real time (rates, pacing, timeouts, simulation-vs-real agreement).
// `npm test` runs them after the rest, one file at a time, so no other test competes for the two CPUs
// they measure on; their tolerances are set for a busy machine, not for a crowded one.
export default {
  files: ['build/test/e2e/http.test.js', 'build/test/e2e/bench-real.test.js', 'build/test/e2e/run-limits.test.js', 'build/test/e2e/run-wrapper.test.js', 'build/test/e2e/limits.test.js', 'build/test/e2e/coalesce.test.js', 'build/test/e2e/redis.test.js', 'build/test/e2e/proxy.test.js'],
  concurrency: 1,
  timeout: '120s',
  workerThreads: false,
};
