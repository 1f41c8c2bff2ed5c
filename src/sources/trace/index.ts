/** The trace layer: readers of recorded traces, format detection, and generated traces. */
export { readAccessLog, LOG_FORMATS, type AccessLogOptions, type LogFormat } from './access-log.js';
export { DEFAULT_SORT_WINDOW, type ArrangeOptions, type TraceEvents } from './arrange.js';
export { mapBatches } from './batched.js';
export { readCsv } from './csv.js';
export { detectFormat } from './detect.js';
export { TRACE_FORMATS, TraceError, type TraceEvent, type TraceFormat } from './event.js';
export { formatTraceLine } from './format.js';
export { ARRIVAL_PATTERNS, generateTrace, type ArrivalPattern, type GenerateOptions } from './generate.js';
export { readHar } from './har.js';
export { readJoblog } from './joblog.js';
export { readJsonl } from './jsonl.js';
export { readTrace, type ReadTraceOptions, type TraceSource } from './read.js';
export { readTraceThreaded } from './threaded.js';
export { readResults } from './results.js';
export { parseServiceDist, sampleService, serviceMeanMs, type ServiceDist } from './service.js';
export { readUrls } from './urls.js';
export { readVegeta } from './vegeta.js';
