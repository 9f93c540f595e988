import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { issueApiToken } from "../api/api-tokens.js";
import type { Database } from "../prisma/database.js";
import { figure, type BenchFigure } from "./bench-figure.js";
import { spawnBenchProcess } from "./child-process.js";

/**
 * The HTTP API under a local load generator (autocannon, in this process;
 * each server in a process of its own): balance and transactions on an org
 * with a million ledger rows, beside bare Fastify's hello world; and the
 * monthly summary at a million and at ten million rows.
 */
export async function runApiBench(
  db: Database,
  options: { databaseUrl: string; queuePrefix: string; quick: boolean; log: (line: string) => void },
): Promise<BenchFigure[]> {
  const rows = options.quick ? 100_000 : 1_000_000;
  const durationS = options.quick ? 1.5 : 10;
  const connections = 32;
  const { orgId, token } = await seedOrg(db);
  const seeded = await timed(() => seedLedger(db, orgId, 0, rows));
  await db.pool.query("ANALYZE credit_transaction");
  options.log(`seeded ${rows.toLocaleString("en")} ledger rows in one org in ${seeded.toFixed(0)} s`);
  const { rows: middle } = await db.pool.query<{ id: string }>(
    "SELECT id::text FROM credit_transaction WHERE org_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1", [orgId, Math.floor(rows / 2)]);

  const hello = await spawnBenchProcess<{ url: string }>("bench/hello-server-process.ts", {}, (m) => "url" in m);
  const ceiling = await load(hello.message.url, {}, durationS, connections);
  await hello.stop();
  options.log(`bare Fastify hello world: ${ceiling.rps.toFixed(0)} req/s, p99 ${ceiling.p99Ms} ms`);

  // The API as shipped (request logs on at info, written to /dev/null here), but with a rate limit no load test reaches.
  const api = await spawnBenchProcess<{ url: string }>("bench/api-server-process.ts", {
    DATABASE_URL: options.databaseUrl, QUEUE_PREFIX: `${options.queuePrefix}-api`, LOG_LEVEL: "info",
    API_RATE_LIMIT_PER_MINUTE: "10000000", DATABASE_POOL_SIZE: "10",
  }, (m) => "url" in m, { stdout: "ignore" });
  const auth = { authorization: `Bearer ${token}` };
  const figures: BenchFigure[] = [];
  try {
    const routes = [
      { name: "balance", path: `/v1/orgs/${orgId}/credits` },
      { name: "transactions, first page of 50", path: `/v1/orgs/${orgId}/transactions?limit=50` },
      // The quick run keeps to the two endpoints the issue names.
      ...(options.quick ? [] : [
        { name: "transactions, a page halfway down", path: `/v1/orgs/${orgId}/transactions?limit=50&cursor=${middle[0]!.id}` },
        { name: "usage tab, first page of 50", path: `/v1/orgs/${orgId}/transactions?tab=usage&limit=50` },
      ]),
    ];
    for (const route of routes) {
      const result = await load(`${api.message.url}${route.path}`, auth, durationS, connections);
      options.log(`GET ${route.name}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99Ms} ms (${result.errors} errors, ${result.non2xx} non-2xx)`);
      figures.push(
        figure(`API GET ${route.name} (${rows.toLocaleString("en")}-row org), req/s`, result.rps, "req/s", "bare Fastify hello world", ceiling.rps),
        figure(`API GET ${route.name}, p99 latency`, result.p99Ms, "ms", "bare Fastify hello world p99", ceiling.p99Ms),
      );
    }

    const summary = `${api.message.url}/v1/orgs/${orgId}/usage/monthly`;
    const atFirst = await load(summary, auth, durationS, 8);
    options.log(`GET usage/monthly at ${rows.toLocaleString("en")} rows: ${atFirst.rps.toFixed(0)} req/s, p99 ${atFirst.p99Ms} ms`);
    if (!options.quick) {
      const more = 9_000_000;
      const grew = await timed(() => Promise.all([0, 1].map((part) => seedLedger(db, orgId, rows + part * (more / 2), more / 2))));
      options.log(`grew the org to ${(rows + more).toLocaleString("en")} ledger rows in ${grew.toFixed(0)} s`);
      await db.pool.query("ANALYZE credit_transaction");
      const atTen = await load(summary, auth, durationS, 8);
      const scanMs = await timed(() => scanLedgerSummary(db, orgId)) * 1000;
      options.log(`GET usage/monthly at ${(rows + more).toLocaleString("en")} rows: ${atTen.rps.toFixed(0)} req/s, p99 ${atTen.p99Ms} ms; the same figures summed from the ledger itself: ${scanMs.toFixed(0)} ms`);
      figures.push(
        figure("API GET usage/monthly at 10M rows, p99 latency", atTen.p99Ms, "ms", `same at ${rows.toLocaleString("en")} rows`, atFirst.p99Ms),
        figure("monthly summary summed from the ledger at 10M rows (what the hourly totals avoid)", scanMs, "ms", "API p99 at 10M rows", atTen.p99Ms),
      );
    } else {
      figures.push(figure(`API GET usage/monthly at ${rows.toLocaleString("en")} rows, p99 latency`, atFirst.p99Ms, "ms", "bare Fastify hello world p99", ceiling.p99Ms));
    }
  } finally {
    await api.stop();
  }
  return figures;
}

async function load(url: string, headers: Record<string, string>, durationS: number, connections: number) {
  const result = await autocannon({ url, headers, connections, duration: durationS });
  return { rps: result.requests.average, p99Ms: result.latency.p99, errors: result.errors, non2xx: result.non2xx };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

async function seedOrg(db: Database) {
  const { rows } = await db.pool.query<{ id: string }>(
    "INSERT INTO organisation (name, currency, cost_per_credit, time_zone) VALUES ('API Bench Photo', 'EUR', 0.05, 'Europe/Berlin') RETURNING id");
  const orgId = rows[0]!.id;
  await db.pool.query("INSERT INTO event (org_id, name) SELECT $1, 'Event ' || n FROM generate_series(1, 100) AS n", [orgId]);
  const admin = await db.pool.query<{ id: string }>(
    "INSERT INTO app_user (org_id, email, name, role) VALUES ($1, 'admin@bench.example', 'Bench Admin', 'ADMIN') RETURNING id", [orgId]);
  const { token } = await issueApiToken(db, { userId: admin.rows[0]!.id, label: "bench" });
  return { orgId, token };
}

/** Usage rows spread over the last 115 days (so the monthly cards cover them all), in one statement. */
async function seedLedger(db: Database, orgId: string, from: number, count: number): Promise<void> {
  const spacingMs = (115 * 86_400_000) / 10_000_000;
  await db.pool.query(
    `INSERT INTO credit_transaction (org_id, type, usage_type, credits, event_id, balance_after, idempotency_key, request_fingerprint, reference, created_at)
     SELECT $1, 'USAGE', CASE WHEN n % 3 = 0 THEN 'AI_IMAGE_ROTATION' ELSE 'PHOTO_PROCESSING' END::usage_type, -1,
            (SELECT min(id) FROM event WHERE org_id = $1) + n % 100, 0, 'seed-' || n, 'seed', 'run-' || (n / 10),
            now() - ((10000000 - n) * $4::float8) * interval '1 millisecond'
     FROM generate_series($2::int + 1, $2::int + $3::int) AS n`,
    [orgId, from, count, spacingMs],
  );
}

/** The four cards straight from the ledger rows, as the summary did before the hourly totals. */
async function scanLedgerSummary(db: Database, orgId: string): Promise<void> {
  await db.pool.query(
    `SELECT date_trunc('month', created_at AT TIME ZONE 'Europe/Berlin') AS month,
            -sum(credits) FILTER (WHERE type = 'USAGE'), sum(credits) FILTER (WHERE credits > 0), count(*) FILTER (WHERE type = 'USAGE')
     FROM credit_transaction WHERE org_id = $1 AND created_at >= now() - interval '4 months' GROUP BY 1`,
    [orgId],
  );
}
