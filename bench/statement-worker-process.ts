/**
 * A statement delivery worker for the benchmark, as a process of its own
 * (one per core), at the concurrency production runs it with. Reports its
 * peak RSS and the CPU time its work took to the parent when told to stop.
 */
import { loadConfig } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { createMailer } from "../core/mailer.js";
import { createDatabase } from "../prisma/database.js";
import { queueSettings } from "../workers/metering-queues.js";
import { startStatementDeliveryWorker } from "../workers/statement-delivery-worker.js";

const config = loadConfig();
const db = createDatabase({ url: config.DATABASE_URL, poolSize: 8 });
const mailer = createMailer(config);
const worker = startStatementDeliveryWorker({
  db, mailer, logger: createLogger({ level: "error" }), queues: queueSettings(config),
  seller: { name: "Credits Platform Ltd", addressLines: ["1 Harbour Street", "Dublin"], taxId: "IE1234567X" },
});
let peakRss = process.memoryUsage().rss;
const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 50);
await worker.waitUntilReady();
// Start-up (module loading, font parsing) is not per-statement work.
const cpuAtReady = process.cpuUsage();
process.send?.({ ready: true });
process.on("message", async () => {
  clearInterval(sampler);
  await worker.close();
  const cpu = process.cpuUsage(cpuAtReady);
  await db.close();
  mailer.close();
  process.send?.({ peakRss, cpu }, () => process.exit(0));
});
