/**
 * The defaults of `throttle proxy`, in a module of their own so that the command line can show them in
 * its help without loading the proxy. A proxy limits nothing until told to: no rate, no in-flight cap.
 */
export const PROXY_DEFAULTS = {
  listen: '127.0.0.1:8080',
  rate: 'inf',
  burst: '1',
  concurrency: 'inf',
  onFull: 'wait',
  maxWait: '10s',
  seed: '1',
  /** timeout 0 leaves the proxy's own: 300 s for an upstream's headers and for each pause in its body. */
  timeout: '0',
  drain: '5s',
} as const;
