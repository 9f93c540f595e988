import { randomUUID } from "node:crypto";
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Queue, Worker } from "bullmq";
import { createLogger } from "../core/logger.js";
import { createMailer } from "../core/mailer.js";
import { grantCredits } from "../ledger/index.js";
import { createEvent } from "../organisations/create-event.js";
import { createOrganisation } from "../organisations/create-organisation.js";
import type { Database } from "../prisma/database.js";
import { enqueueUsageRuns } from "../workers/enqueue-usage-run.js";
import type { MeteringOutcome } from "../workers/meter-usage-run.js";
import { createMeteringQueue, notificationQueueName, usageRunJobId, usageRunJobOptions, usageRunWorkerSettings, type QueueSettings } from "../workers/metering-queues.js";
import { startMeteringWorkers } from "../workers/metering-workers.js";
import { SimulatedPhotoProcessor } from "../workers/simulated-photo-processor.js";
import { figure, type BenchFigure } from "./bench-figure.js";
import { cpuPerItem, describeCpu, readCpu, type CpuPerItem } from "./cpu-meter.js";
import { measureMeteringFloor } from "./metering-floor.js";
import { measureThroughput } from "./measure-throughput.js";

const concurrency = 200;
const producerChunk = 100;

interface Scenario {
  orgs: number;
  runs: number;
  photosPerRun: number;
}

/**
 * End-to-end metering through real workers (simulated processor, no latency)
 * with the producer running at the same time, beside BullMQ's own ceiling
 * (empty processor, same concurrency, producer running) and PostgreSQL's
 * batched-row ceiling, all measured in this run.
 */
export async function runMeteringBench(
  db: Database,
  queues: QueueSettings,
  options: { quick: boolean; log: (line: string) => void },
): Promise<BenchFigure[]> {
  const onePhotoJobs = options.quick ? 3_000 : 20_000;
  // Long enough that filling and draining the pipeline (a few hundred ms) is not most of the window.
  const hundredPhotoRuns = options.quick ? 400 : 4_000;

  // A first, untimed pass, so that neither ceiling pays for compiling BullMQ's and ioredis's paths.
  for (const shape of ["bare", "run jobs"] as const) await measureBullmqCeiling(queues, 2_000, shape);
  await checkpoint(db);
  const { jobsPerSecond: bullmqCeiling, cpu: bullmqCpu } = await measureBullmqCeiling(queues, onePhotoJobs, "bare");
  options.log(`BullMQ ceiling (empty processor, concurrency ${concurrency}, producer running): ${bullmqCeiling.toFixed(0)} jobs/s; ${describeCpu(bullmqCpu, "job")}`);
  // The same, with the metering jobs' payload, id and options: what BullMQ itself costs for
  // our jobs, so that the one-photo ratio below can be read without BullMQ's share in it.
  const { jobsPerSecond: runJobCeiling, cpu: runJobCpu } = await measureBullmqCeiling(queues, onePhotoJobs, "run jobs");
  options.log(`BullMQ ceiling with the metering jobs' payload, ids and options (empty processor): ${runJobCeiling.toFixed(0)} jobs/s; ${describeCpu(runJobCpu, "job")}`);
  const { rowsPerSecond: batchedRows, cpu: batchedRowCpu } = await measureBatchedRowCeiling(db, options.quick ? 2_000 : 8_000);
  options.log(`PostgreSQL batched-row ceiling (100 rows + one balance update per statement): ${batchedRows.toFixed(0)} rows/s; ${describeCpu(batchedRowCpu, "row")}`);
  // Whatever else holds, a photo cannot be metered faster than the machine's
  // cores can pay for its CPU: at the target rate, this is all a photo may cost.
  const cores = availableParallelism();
  const allowedUs = (ceiling: number) => (cores * 1e6) / (0.8 * ceiling);

  const figures: BenchFigure[] = [];
  if (bullmqCpu) {
    // The rows no run can do without cost PostgreSQL this much however the workers are
    // built; the target leaves metering the CPU the ceiling's own work does not take.
    for (const [photosPerRun, runs, ceiling, label] of [
      [1, onePhotoJobs, bullmqCeiling, "one-photo jobs"], [100, hundredPhotoRuns, batchedRows, "100-photo runs"],
    ] as const) {
      await checkpoint(db);
      const floor = await measureMeteringFloor(db, { runs, photosPerRun });
      if (!floor.cpu) continue;
      const room = allowedUs(ceiling) - bullmqCpu.totalUs / photosPerRun;
      options.log(`rows no run can do without, ${label}, written by plain SQL (100 runs per statement): ${floor.photosPerSecond.toFixed(0)} photos/s; ${describeCpu(floor.cpu, "photo")}`);
      options.log(`  at 0.8x of its ceiling, metering may add ${room.toFixed(1)} µs per photo to BullMQ's own work; these rows alone take ${floor.cpu.totalUs} µs`);
      figures.push(figure(`metering: CPU per photo for the rows no run can do without (floor), ${label}`, floor.cpu.totalUs, "µs",
        `CPU metering may add per photo at 0.8x of its ceiling on ${cores} cores`, room));
      if (photosPerRun === 1 && runJobCpu) {
        // A bound, not a design: BullMQ carrying these jobs plus these rows, and nothing else
        // (no hold, no validation, no round trip's own cost). No metering of one-photo jobs
        // on this machine can beat it.
        const bestRate = (cores * 1e6) / (runJobCpu.totalUs + floor.cpu.totalUs);
        options.log(`  BullMQ's own CPU for these jobs plus these rows alone: ${(runJobCpu.totalUs + floor.cpu.totalUs).toFixed(1)} µs a job; ${cores} cores could meter at most ${bestRate.toFixed(0)} photos/s: ${(bestRate / ceiling).toFixed(2)}x of its ceiling`);
        figures.push(figure("metering: most photos/s one-photo jobs could reach on this machine (BullMQ's CPU for the jobs + floor rows, nothing else)",
          bestRate, "photos/s", "BullMQ empty processor, same concurrency, producer running", ceiling));
      }
    }
  }
  const only = (options as { only?: string }).only;
  for (const scenario of [
    { orgs: 1, runs: onePhotoJobs, photosPerRun: 1 },
    { orgs: 100, runs: onePhotoJobs, photosPerRun: 1 },
    { orgs: 1, runs: hundredPhotoRuns, photosPerRun: 100 },
    { orgs: 100, runs: hundredPhotoRuns, photosPerRun: 100 },
  ] satisfies Scenario[]) {
    if (only && `${scenario.orgs}x${scenario.photosPerRun}` !== only) continue;
    await checkpoint(db);
    const result = await meterScenario(db, queues, scenario);
    const label = `${scenario.photosPerRun === 1 ? "one-photo jobs" : "100-photo runs"}, ${scenario.orgs} org${scenario.orgs > 1 ? "s" : ""}`;
    options.log(`metering ${label}: ${result.photosPerSecond.toFixed(0)} photos/s, enqueue to charged p50 ${result.p50Ms.toFixed(0)} ms, p99 ${result.p99Ms.toFixed(0)} ms; ${describeCpu(result.cpu, "photo")}`);
    if (scenario.photosPerRun === 1) {
      figures.push(figure(`metering: photos charged/s, ${label}`, result.photosPerSecond, "photos/s",
        "BullMQ empty processor, same concurrency, producer running", bullmqCeiling));
      figures.push(figure(`metering: photos charged/s, ${label}, beside BullMQ with the same jobs`, result.photosPerSecond, "photos/s",
        "BullMQ empty processor, the metering jobs' payload, ids and options", runJobCeiling));
    } else {
      figures.push(figure(`metering: photos charged/s, ${label}`, result.photosPerSecond, "photos/s",
        "PostgreSQL batched rows (100 per statement)", batchedRows));
    }
    if (result.cpu) {
      const ceiling = scenario.photosPerRun === 1 ? bullmqCeiling : batchedRows;
      const cpuBound = (cores * 1e6) / result.cpu.totalUs;
      options.log(`  at that CPU per photo, ${cores} cores meter at most ${cpuBound.toFixed(0)} photos/s: ${(cpuBound / ceiling).toFixed(2)}x of its ceiling`);
      figures.push(figure(`metering: CPU per photo (all processes), ${label}`, result.cpu.totalUs, "µs",
        `CPU a photo may use at 0.8x of its ceiling on ${cores} cores`, allowedUs(ceiling)));
    }
    figures.push(
      { name: `metering: enqueue to charged p50, ${label}`, value: round(result.p50Ms), unit: "ms", baseline: "none", baselineValue: 0, ratio: 0 },
      { name: `metering: enqueue to charged p99, ${label}`, value: round(result.p99Ms), unit: "ms", baseline: "none", baselineValue: 0, ratio: 0 },
    );
  }
  for (const [name, cpu, unit] of [
    ["BullMQ empty processor", bullmqCpu, "job"], ["BullMQ empty processor, the metering jobs", runJobCpu, "job"], ["PostgreSQL batched rows", batchedRowCpu, "row"],
  ] as const) {
    if (cpu) figures.push({ name: `metering: CPU per ${unit} (all processes), ${name}`, value: cpu.totalUs, unit: "µs", baseline: "none", baselineValue: 0, ratio: 0 });
  }
  return figures;
}

const round = (n: number) => Number(n.toFixed(1));

/**
 * Writes out what the previous measurement left dirty, so that its
 * checkpoint does not land in the next one's CPU and time. Needs the
 * pg_checkpoint role; without it the measurements simply share the machine.
 */
async function checkpoint(db: Database): Promise<void> {
  await db.pool.query("CHECKPOINT").catch(() => {});
}

/**
 * BullMQ alone: an empty processor at the workers' concurrency, the producer
 * adding jobs in chunks meanwhile. "bare" jobs carry a counter and nothing
 * else; "run jobs" carry what a one-photo run job carries (its payload, its
 * job id, the metering queue's job options and worker settings, an outcome
 * returned), so that the difference is BullMQ's own cost of our jobs.
 */
async function measureBullmqCeiling(queues: QueueSettings, jobs: number, shape: "bare" | "run jobs"): Promise<{ jobsPerSecond: number; cpu: CpuPerItem | null }> {
  const name = `ceiling-${randomUUID().slice(0, 8)}`;
  const queue = new Queue(name, { connection: queues.connection, prefix: queues.prefix });
  let completed = 0;
  const outcome: MeteringOutcome = { outcome: "completed", photosCharged: 1, photosFailed: 0, photosLeft: 0 };
  const worker = shape === "bare"
    ? new Worker(name, async () => {}, { connection: queues.connection, prefix: queues.prefix, concurrency, removeOnComplete: { count: 0 } })
    : new Worker(name, async () => outcome, { connection: queues.connection, prefix: queues.prefix, concurrency, ...usageRunWorkerSettings() });
  worker.on("completed", () => { completed += 1; });
  await worker.waitUntilReady();
  const orgId = randomUUID();
  const job = (n: number) => {
    if (shape === "bare") return { name: "job", data: { i: n } };
    const run = { orgId, eventId: 1, kind: "PHOTO_PROCESSING" as const, userId: null, runId: `r${n}`, photoIds: [`photo-${n}-0`] };
    return { name: run.kind, data: run, opts: { ...usageRunJobOptions, jobId: usageRunJobId(run) } };
  };
  const chunks: ReturnType<typeof job>[][] = [];
  for (let sent = 0; sent < jobs; sent += producerChunk) {
    chunks.push(Array.from({ length: Math.min(producerChunk, jobs - sent) }, (_, i) => job(sent + i)));
  }
  const cpuBefore = readCpu();
  const started = performance.now();
  for (const chunk of chunks) await queue.addBulk(chunk);
  while (completed < jobs) await sleep(5);
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuPerItem(cpuBefore, readCpu(), jobs);
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return { jobsPerSecond: jobs / seconds, cpu };
}

async function measureBatchedRowCeiling(db: Database, durationMs: number): Promise<{ rowsPerSecond: number; cpu: CpuPerItem | null }> {
  await db.pool.query("CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, account int NOT NULL, credits int NOT NULL)");
  await db.pool.query("CREATE TABLE IF NOT EXISTS bench_hot_row (id int PRIMARY KEY, credits bigint NOT NULL CHECK (credits >= 0))");
  await db.pool.query("INSERT INTO bench_hot_row VALUES (1, 1000000000000) ON CONFLICT (id) DO UPDATE SET credits = EXCLUDED.credits");
  const cpuBefore = readCpu();
  const result = await measureThroughput(8, durationMs, () =>
    db.pool.query(
      `WITH rows AS (INSERT INTO bench_rows (account, credits) SELECT 1, 1 FROM generate_series(1, 100) RETURNING credits)
       UPDATE bench_hot_row SET credits = credits - (SELECT sum(credits) FROM rows) WHERE id = 1`,
    ));
  return { rowsPerSecond: result.operationsPerSecond * 100, cpu: cpuPerItem(cpuBefore, readCpu(), result.operations * 100) };
}

async function meterScenario(db: Database, queueSettings: QueueSettings, scenario: Scenario) {
  const tag = randomUUID().slice(0, 8);
  const queues = { ...queueSettings, prefix: `${queueSettings.prefix}-${tag}` };
  const orgs = await Promise.all(Array.from({ length: scenario.orgs }, async (_, i) => {
    const org = await createOrganisation(db, { name: `Bench ${tag} ${i}`, currency: "EUR", costPerCredit: "0.05", timeZone: "UTC" });
    const event = await createEvent(db, { orgId: org.id, name: "Bench event" });
    await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 10_000_000, idempotencyKey: `bench-${tag}` });
    return { orgId: org.id, eventId: event.id };
  }));
  const workers = startMeteringWorkers({
    db, queues, logger: createLogger({ level: "error", name: "bench" }),
    mailer: createMailer({ OUTBOX_DIR: "var/bench-outbox", MAIL_FROM: "bench@localhost" }),
    processor: new SimulatedPhotoProcessor({ latencyMsPerPhoto: 0, failureRate: 0 }),
    concurrency, segmentPhotos: 100, reservationTtlMs: 600_000, supervisorIntervalMs: 1_000, reconcileAfterMs: 600_000,
  });
  // Counted as the BullMQ ceiling counts its jobs: in process, from the worker's own
  // events, so that watching the run costs the database nothing while it is timed.
  let runsDone = 0;
  workers.onJobDone((outcome) => {
    if (outcome.outcome === "completed") runsDone += 1;
  });
  const queue = createMeteringQueue(queues);
  const totalPhotos = scenario.runs * scenario.photosPerRun;
  // What callers send is made before the clock starts: their photo lists are not ours to time.
  const chunks: unknown[][] = [];
  for (let sent = 0; sent < scenario.runs; sent += producerChunk) {
    chunks.push(Array.from({ length: Math.min(producerChunk, scenario.runs - sent) }, (_, i) => {
      const n = sent + i;
      const { orgId, eventId } = orgs[n % orgs.length]!;
      return {
        orgId, eventId, kind: "PHOTO_PROCESSING", userId: null, runId: `r${n}`,
        photoIds: Array.from({ length: scenario.photosPerRun }, (_, p) => `photo-${n}-${p}`),
      };
    }));
  }
  const cpuBefore = readCpu();
  const started = performance.now();
  for (const chunk of chunks) await enqueueUsageRuns({ db, queue }, chunk);
  while (runsDone < scenario.runs) await sleep(5);
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuPerItem(cpuBefore, readCpu(), totalPhotos);
  const orgIds = orgs.map((org) => org.orgId);
  const completed = await db.pool.query("SELECT count(*)::int AS n FROM usage_run WHERE org_id = ANY($1) AND status = 'COMPLETED'", [orgIds]);
  if (completed.rows[0].n !== scenario.runs) throw new Error(`bench completed ${completed.rows[0].n} runs in PostgreSQL, expected ${scenario.runs}`);
  const latency = await db.pool.query<{ p50: number; p99: number }>(
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
     FROM (SELECT extract(epoch FROM c.created_at - u.enqueued_at) * 1000 AS ms
           FROM photo_charge c JOIN usage_run u ON u.sequence = c.run_sequence WHERE u.org_id = ANY($1)) AS latencies`,
    [orgIds],
  );
  const charged = await db.pool.query(
    "SELECT count(*)::int AS n FROM photo_charge c JOIN usage_run u ON u.sequence = c.run_sequence WHERE u.org_id = ANY($1)", [orgIds]);
  if (charged.rows[0].n !== totalPhotos) throw new Error(`bench charged ${charged.rows[0].n} photos, expected ${totalPhotos}`);
  await workers.close();
  // The workers' notification queue too, which left its meta key behind under each scenario's prefix.
  const notifications = new Queue(notificationQueueName, { connection: queues.connection, prefix: queues.prefix });
  for (const finished of [queue, notifications]) {
    await finished.obliterate({ force: true }).catch(() => {});
    await finished.close();
  }
  return { photosPerSecond: totalPhotos / seconds, p50Ms: Number(latency.rows[0]!.p50), p99Ms: Number(latency.rows[0]!.p99), cpu };
}
