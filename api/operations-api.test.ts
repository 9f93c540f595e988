import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../core/config.js";
import { startApi } from "./start-api.js";
import { startApiWorld, type ApiWorld } from "../test/api-harness.js";
import { quietLogger } from "../test/metering-harness.js";

let world: ApiWorld;
beforeAll(async () => { world = await startApiWorld(); }, 60_000);
afterAll(async () => { await world.close(); });

/** A port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("health", () => {
  it("is live, and ready when PostgreSQL and Redis answer", async () => {
    expect(await world.call(null, "GET", "/health/live")).toMatchObject({ status: 200, data: { status: "live" } });
    expect(await world.call(null, "GET", "/health/ready")).toMatchObject({ status: 200, data: { status: "ready", checks: { postgres: "ok", redis: "ok" } } });
  });

  it("is live but not ready when Redis cannot be reached, and still serves the ledger", async () => {
    const config = loadConfig({ ...process.env, DATABASE_URL: world.db.url, QUEUE_PREFIX: world.queues.prefix, REDIS_URL: `redis://127.0.0.1:${await closedPort()}` });
    const api = await startApi(config, { db: world.db, logger: quietLogger }, { port: 0, host: "127.0.0.1" });
    try {
      expect((await fetch(`${api.url}/health/live`)).status).toBe(200);
      const ready = await fetch(`${api.url}/health/ready`);
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { checks: { redis: string } };
      expect(body).toMatchObject({ status: "not ready", checks: { postgres: "ok" } });
      expect(body.checks.redis).not.toBe("ok");
      // Rate limiting fails open: the ledger's reads go on without Redis.
      const me = await fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${world.tokens.staff}` } });
      expect(me.status).toBe(200);
      // Metrics answer too, without the queue figures.
      const metrics = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${world.tokens.staff}` } });
      expect(metrics.status).toBe(200);
      const text = await metrics.text();
      expect(text).toMatch(/credits_parked_runs 0/);
      expect(text).not.toMatch(/credits_queue_jobs\{/);
    } finally {
      await api.close();
    }
  });
});

describe("metrics", () => {
  it("reports queue depths, parked runs, credits charged, payments and statements by status", async () => {
    await world.db.pool.query(
      "INSERT INTO statement (org_id, month, status, message_id) VALUES ($1, '2026-01', 'SENT', 'a@x'), ($1, '2026-02', 'FAILED', 'b@x')",
      [world.orgA.org.id]);
    const { status, data, headers } = await world.call(world.tokens.staff, "GET", "/metrics");
    expect(status).toBe(200);
    expect(headers.get("content-type")).toContain("text/plain");
    for (const line of [
      /credits_queue_jobs\{queue="metering",state="waiting"\} 0/,
      /credits_queue_jobs\{queue="statements",state="failed"\} 0/,
      /credits_parked_runs 0/,
      /credits_charged 0/,
      /credits_payments\{status="SUCCEEDED"\} \d+|# TYPE credits_payments gauge/,
      /credits_statements\{status="SENT"\} 1/,
      /credits_statements\{status="FAILED"\} 1/,
      /credits_api_request_duration_seconds_bucket/,
    ]) expect(data).toMatch(line);
  });
});

describe("queue dashboard", () => {
  it("opens for staff, with a bearer token or a browser's Basic login; asks others to log in", async () => {
    const page = await world.call(world.tokens.staff, "GET", "/v1/staff/queues");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const basic = Buffer.from(`staff:${world.tokens.staff}`).toString("base64");
    const queues = await world.call(null, "GET", "/v1/staff/queues/api/queues", { headers: { authorization: `Basic ${basic}` } });
    expect(queues.status).toBe(200);
    expect(queues.data.queues.map((q: { name: string }) => q.name).sort()).toEqual(["metering", "notifications", "payment-rechecks", "statements"]);
    const anonymous = await world.call(null, "GET", "/v1/staff/queues");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toContain("Basic");
  });
});

describe("documentation", () => {
  it("serves the OpenAPI document and its viewer at /docs", async () => {
    const spec = await world.call(null, "GET", "/docs/json");
    expect(spec.status).toBe(200);
    expect(spec.data.openapi).toMatch(/^3\./);
    for (const path of ["/v1/orgs/{orgId}/credits", "/v1/orgs/{orgId}/transactions", "/v1/orgs/{orgId}/purchases", "/v1/staff/orgs/{orgId}/grants"]) {
      expect(spec.data.paths).toHaveProperty([path]);
    }
    expect(Object.keys(spec.data.paths).some((path) => path.includes("/staff/queues"))).toBe(false);
    expect(spec.data.paths["/v1/orgs/{orgId}/purchases"].post.requestBody.content["application/json"].schema.required).toEqual(["credits"]);
    expect((await world.call(null, "GET", "/docs")).status).toBeLessThan(400);
  });
});
