import { performance } from "node:perf_hooks";

export interface Throughput {
  operationsPerSecond: number;
  operations: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Runs `operation` from `callers` concurrent loops for `durationMs` and
 * reports completed operations per second and latency percentiles.
 */
export async function measureThroughput(
  callers: number,
  durationMs: number,
  operation: (caller: number, iteration: number) => Promise<unknown>,
): Promise<Throughput> {
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(Array.from({ length: callers }, async (_, caller) => {
    for (let iteration = 0; performance.now() < deadline; iteration++) {
      const before = performance.now();
      await operation(caller, iteration);
      latencies.push(performance.now() - before);
    }
  }));
  const elapsedSeconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const percentile = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return { operationsPerSecond: latencies.length / elapsedSeconds, operations: latencies.length, p50Ms: percentile(0.5), p99Ms: percentile(0.99) };
}
