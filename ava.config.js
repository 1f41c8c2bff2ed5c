// Every test but the real-time ones (see ava.timing.config.js), in parallel.
import timing from './ava.timing.config.js';

export default {
  files: ['build/test/**/*.test.js', ...timing.files.map((f) => `!${f}`)],
  timeout: '60s',
  workerThreads: false,
};
