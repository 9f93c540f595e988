import { performance } from "node:perf_hooks";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import nodemailer from "nodemailer";
import PDFDocument from "pdfkit";
import { SMTPServer } from "smtp-server";
import type { AddressInfo } from "node:net";
import { createLogger } from "../core/logger.js";
import type { Database } from "../prisma/database.js";
import { buildStatement } from "../reports/build-statement.js";
import { renderInvoice } from "../reports/render-invoice.js";
import { renderUsageReport } from "../reports/render-usage-report.js";
import { createStatementQueue } from "../reports/statement-queue.js";
import { enqueueDueStatements } from "../scheduler/enqueue-due-statements.js";
import type { QueueSettings } from "../workers/metering-queues.js";
import { figure, type BenchFigure } from "./bench-figure.js";
import { spawnBenchProcess } from "./child-process.js";
import { seedStatementOrgs } from "./seed-statement-orgs.js";

const seller = { name: "Credits Platform Ltd", addressLines: ["1 Harbour Street", "Dublin"], taxId: "IE1234567X" };
const nullSink = () => new Writable({ write(_chunk, _encoding, done) { done(); } });

/**
 * Month-end statements: rendering (usage PDF + invoice) per second beside
 * bare pdfkit, and end-to-end delivery (fan-out, workers rendering in
 * parallel, SMTP to a local server) beside bare nodemailer, with peak RSS.
 */
export async function runStatementsBench(
  db: Database,
  queues: QueueSettings,
  options: { orgs: number; databaseUrl: string; quick: boolean; log: (line: string) => void },
): Promise<BenchFigure[]> {
  const month = "2026-10";
  const orgIds = await seedStatementOrgs(db, options.orgs, month);
  options.log(`seeded ${options.orgs} orgs (varied names and scripts, 1-6 events, 1-3 admins) with a month of usage and an invoice each`);
  const smtp = await startSink();
  let peakRss = 0;
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 50);
  try {
    const samples = options.quick ? 100 : 400;
    const bare = await measure(samples, async () => {
      const doc = new PDFDocument({ size: "A4" });
      doc.text("Hello");
      doc.end();
      await pipeline(doc, nullSink());
    });
    const sample = orgIds.slice(0, Math.min(samples, orgIds.length));
    const renderCpu = process.cpuUsage();
    const rendered = await measure(sample.length, async (index) => {
      const view = await buildStatement(db, sample[index]!, month);
      await pipeline(renderUsageReport(view), nullSink());
      for (const invoice of view.invoices) await pipeline(renderInvoice(invoice, seller), nullSink());
    });
    const renderCpuMs = cpuMs(process.cpuUsage(renderCpu)) / sample.length;
    options.log(`rendering: ${rendered.toFixed(1)} statements/s (usage PDF + invoice), ${renderCpuMs.toFixed(1)} CPU ms each (build + render), vs bare pdfkit ${bare.toFixed(0)} docs/s`);

    const bareMail = nodemailer.createTransport({ host: "127.0.0.1", port: smtp.port, pool: true, maxConnections: 4 });
    const attachment = Buffer.alloc(60_000, 1);
    const smtpCeiling = await measure(samples, () => bareMail.sendMail({
      from: "bench@localhost", to: "admin@example.test", subject: "x", text: "x", attachments: [{ filename: "a.pdf", content: attachment }],
    }));
    bareMail.close();

    // Delivery as in production: the SMTP server and one worker process per core, each its own process.
    const sink = await spawnBenchProcess<{ port: number }>("bench/smtp-sink-process.ts", {}, (message) => "port" in message);
    const env = { DATABASE_URL: options.databaseUrl, QUEUE_PREFIX: queues.prefix, SMTP_URL: `smtp://127.0.0.1:${sink.message.port}/?pool=true&maxConnections=8`, MAIL_FROM: "bench@localhost" };
    const workers = await Promise.all([1, 2].map(() => spawnBenchProcess("bench/statement-worker-process.ts", env, (message) => "ready" in message)));
    const queue = createStatementQueue(queues);
    const started = performance.now();
    await enqueueDueStatements({ db, queue, logger: createLogger({ level: "error" }) },
      { now: new Date("2026-11-02T12:00:00Z"), sendAt: "06:00", messageDomain: "bench.local", attempts: 3, backoffMs: 1_000 });
    // A cheap count while waiting (passing 10,000 org ids every 100 ms took a third of a core from the run it measures), then one exact check.
    for (;;) {
      const { rows } = await db.pool.query<{ sent: number; open: number }>(
        "SELECT count(*) FILTER (WHERE status = 'SENT')::int AS sent, count(*) FILTER (WHERE status IN ('PENDING', 'SENDING'))::int AS open FROM statement WHERE month = $1",
        [month]);
      if (rows[0]!.open === 0 && rows[0]!.sent >= orgIds.length) break;
      await sleep(100);
    }
    const seconds = (performance.now() - started) / 1000;
    const { rows: [check] } = await db.pool.query<{ sent: number }>(
      "SELECT count(*)::int AS sent FROM statement WHERE month = $1 AND status = 'SENT' AND org_id = ANY ($2::uuid[])", [month, orgIds]);
    if (check!.sent !== orgIds.length) throw new Error(`statements bench: ${check!.sent} of ${orgIds.length} statements sent`);
    const workerPeaks = await Promise.all(workers.map((worker) => worker.stop<{ peakRss: number; cpu: NodeJS.CpuUsage }>()));
    // CPU time is the steady figure on a shared machine: wall time moves with whatever else runs.
    const workerCpuMs = workerPeaks.reduce((sum, worker) => sum + cpuMs(worker.cpu), 0) / orgIds.length;
    const { received, cpu: sinkCpu } = await sink.stop<{ received: number; cpu: NodeJS.CpuUsage }>();
    const sinkCpuMs = cpuMs(sinkCpu) / orgIds.length;
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    peakRss = Math.max(...workerPeaks.map((worker) => worker.peakRss));
    const delivered = orgIds.length / seconds;
    options.log(`delivery: ${orgIds.length} statements in ${seconds.toFixed(1)} s = ${delivered.toFixed(1)}/s by 2 worker processes (SMTP received ${received}), CPU ms each: ${workerCpuMs.toFixed(1)} in the workers, ${sinkCpuMs.toFixed(1)} in the SMTP server; peak RSS ${workerPeaks.map((w) => `${(w.peakRss / 2 ** 20).toFixed(0)} MB`).join(" and ")}; bare nodemailer ${smtpCeiling.toFixed(0)} messages/s`);
    return [
      figure("statements: rendered/s (usage PDF + invoice, one process)", rendered, "statements/s", "bare pdfkit one-line document", bare),
      { name: "statements: CPU per statement rendered (build + render, one process)", value: Number(renderCpuMs.toFixed(1)), unit: "ms", baseline: "none", baselineValue: 0, ratio: 0 },
      { name: `statements: delivery worker CPU per statement, ${orgIds.length}-org run`, value: Number(workerCpuMs.toFixed(1)), unit: "ms", baseline: "none", baselineValue: 0, ratio: 0 },
      figure(`statements: delivered/s end to end, ${orgIds.length} orgs`, delivered, "statements/s", "bare nodemailer, 60 kB attachment, same SMTP server", smtpCeiling),
      { name: `statements: ${orgIds.length}-org month-end run`, value: Number(seconds.toFixed(1)), unit: "s", baseline: "target 180 s for 10,000 orgs", baselineValue: 180, ratio: Number((seconds / 180).toFixed(3)) },
      { name: `statements: peak RSS of a delivery worker process, ${orgIds.length}-org run`, value: Math.round(peakRss / 2 ** 20), unit: "MB", baseline: "target 500 MB", baselineValue: 500, ratio: Number((peakRss / 2 ** 20 / 500).toFixed(3)) },
    ];
  } finally {
    clearInterval(sampler);
    await smtp.close();
  }
}

const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

async function measure(count: number, run: (index: number) => Promise<unknown>, parallel = 8): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) await run(next++);
  }));
  return count / ((performance.now() - started) / 1000);
}

async function startSink() {
  const sink = { port: 0, received: 0, close: async () => {} };
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ["STARTTLS"], logger: false,
    onData(stream, _session, callback) {
      stream.resume();
      stream.on("end", () => { sink.received += 1; callback(); });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  sink.port = (server.server.address() as AddressInfo).port;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}
