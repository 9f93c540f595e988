import type { Queue } from "bullmq";
import { collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Database } from "../prisma/database.js";

/**
 * Prometheus metrics. Business figures are read from PostgreSQL and the
 * queues at scrape time, so every API process reports the same truth.
 */
export function createApiMetrics(deps: { db: Database; queues: Queue[] }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "credits_api_" });

  new Gauge({
    name: "credits_queue_jobs", help: "Jobs in each queue, by state", labelNames: ["queue", "state"], registers: [registry],
    async collect() {
      this.reset();
      // Without Redis the queue figures are left out; the database's still answer.
      const counted = await Promise.allSettled(deps.queues.map((queue) => Promise.race([
        queue.getJobCounts("waiting", "prioritized", "active", "delayed", "failed"),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("Redis did not answer within 1 s")), 1_000).unref()),
      ])));
      counted.forEach((result, index) => {
        if (result.status !== "fulfilled") return;
        for (const [state, jobs] of Object.entries(result.value)) this.set({ queue: deps.queues[index]!.name, state }, jobs);
      });
    },
  });
  new Gauge({
    name: "credits_parked_runs", help: "Usage runs parked until their org has credits again", labelNames: [], registers: [registry],
    async collect() {
      const { rows } = await deps.db.pool.query<{ runs: string }>("SELECT count(*) AS runs FROM usage_run WHERE status = 'PARKED'");
      this.set(Number(rows[0]!.runs));
    },
  });
  new Gauge({
    name: "credits_paused_orgs", help: "Organisations whose processing is paused for want of credits", registers: [registry],
    async collect() {
      const { rows } = await deps.db.pool.query<{ orgs: string }>("SELECT count(*) AS orgs FROM organisation WHERE processing_state = 'PAUSED'");
      this.set(Number(rows[0]!.orgs));
    },
  });
  new Gauge({
    name: "credits_charged", help: "Credits charged by usage since the ledger began (from the ledger's hourly totals)", registers: [registry],
    async collect() {
      const { rows } = await deps.db.pool.query<{ used: string }>("SELECT COALESCE(sum(credits_used), 0) AS used FROM credit_hour_total");
      this.set(Number(rows[0]!.used));
    },
  });
  new Gauge({
    name: "credits_payments", help: "Payments by status", labelNames: ["status"], registers: [registry],
    async collect() {
      this.reset();
      const { rows } = await deps.db.pool.query<{ status: string; payments: string }>("SELECT status, count(*) AS payments FROM payment GROUP BY status");
      for (const row of rows) this.set({ status: row.status }, Number(row.payments));
    },
  });
  new Gauge({
    name: "credits_statements", help: "Monthly statements by status (SENT, FAILED, ...)", labelNames: ["status"], registers: [registry],
    async collect() {
      this.reset();
      const { rows } = await deps.db.pool.query<{ status: string; statements: string }>("SELECT status, count(*) AS statements FROM statement GROUP BY status");
      for (const row of rows) this.set({ status: row.status }, Number(row.statements));
    },
  });
  const requestDuration = new Histogram({
    name: "credits_api_request_duration_seconds", help: "API request durations", labelNames: ["method", "route", "status"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [registry],
  });
  return { registry, requestDuration };
}
