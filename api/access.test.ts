import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueApiToken, revokeApiToken } from "./api-tokens.js";
import { startApi } from "./start-api.js";
import { loadConfig } from "../core/config.js";
import { captureReservation, reserveCredits } from "../ledger/index.js";
import { startApiWorld, type ApiWorld } from "../test/api-harness.js";
import { quietLogger } from "../test/metering-harness.js";

let world: ApiWorld;
// Placeholders name the test cases; beforeAll puts in the real ids.
let ids = { org: ":org", event: 0, payment: ":payment", invoice: ":invoice", usage: ":usage", month: ":month" };
let revoked: string;

beforeAll(async () => {
  world = await startApiWorld();
  const org = world.orgA.org.id;
  world.payments.simulator.setScenario({ outcome: "succeed", webhook: "never" });
  const purchase = await world.call(world.tokens.adminA, "POST", `/v1/orgs/${org}/purchases`, { body: { credits: 1_000 }, headers: { "idempotency-key": "seed" } });
  const invoice = (await world.db.pool.query<{ id: string }>("SELECT id FROM invoice WHERE payment_id = $1", [purchase.data.paymentId])).rows[0]!.id;
  await reserveCredits(world.db, { orgId: org, key: "run", credits: 20, usageType: "PHOTO_PROCESSING", eventId: world.orgA.event.id, ttlMs: 60_000 });
  const usage = (await captureReservation(world.db, { orgId: org, key: "run", creditsUsed: 20 })).transactionId!;
  const month = (await world.call(world.tokens.adminA, "GET", `/v1/orgs/${org}/usage/monthly`)).data.months[0].month;
  ids = { org, event: world.orgA.event.id, payment: purchase.data.paymentId, invoice, usage, month };
  const token = await issueApiToken(world.db, { userId: world.orgA.admin.id, label: "to revoke" });
  await revokeApiToken(world.db, token.id);
  revoked = token.token;
}, 60_000);
afterAll(async () => { await world.close(); });

type Role = "admin" | "operator" | "staff";
interface Endpoint { method: string; path: (orgId: string) => string; body?: () => unknown; idempotent?: boolean; expect: Record<Role, number> }

const read = { admin: 200, operator: 200, staff: 200 };
const billing = { admin: 200, operator: 403, staff: 200 };
const staffOnly = (status: number) => ({ admin: 403, operator: 403, staff: status });

/** Every route, and what each role gets on its own org (staff: on any org). */
const endpoints: Endpoint[] = [
  { method: "GET", path: (o) => `/v1/orgs/${o}/credits?include=costPerCredit`, expect: read },
  { method: "GET", path: (o) => `/v1/orgs/${o}/usage/monthly`, expect: read },
  { method: "GET", path: (o) => `/v1/orgs/${o}/usage/events`, expect: read },
  { method: "GET", path: (o) => `/v1/orgs/${o}/subscription`, expect: read },
  { method: "GET", path: (o) => `/v1/orgs/${o}/transactions?tab=usage`, expect: read },
  { method: "GET", path: (o) => `/v1/orgs/${o}/transactions.csv`, expect: read },
  { method: "GET", path: (o) => `/v1/orgs/${o}/payments`, expect: billing },
  { method: "POST", path: (o) => `/v1/orgs/${o}/purchases`, body: () => ({ credits: 1_000 }), idempotent: true, expect: { admin: 201, operator: 403, staff: 403 } },
  { method: "POST", path: (o) => `/v1/orgs/${o}/payments/${ids.payment}/recheck`, expect: billing },
  { method: "POST", path: (o) => `/v1/orgs/${o}/payments/recheck-stuck`, expect: billing },
  { method: "GET", path: (o) => `/v1/orgs/${o}/invoices`, expect: billing },
  { method: "GET", path: (o) => `/v1/orgs/${o}/invoices/${ids.invoice}/pdf`, expect: billing },
  { method: "GET", path: (o) => `/v1/orgs/${o}/statements/${ids.month}/usage-report.pdf`, expect: billing },
  { method: "POST", path: (o) => `/v1/staff/orgs/${o}/grants`, body: () => ({ type: "ADMIN_GRANT", credits: 5, reason: "goodwill" }), idempotent: true, expect: staffOnly(201) },
  { method: "POST", path: (o) => `/v1/staff/orgs/${o}/refunds`, body: () => ({ usageTransactionId: ids.usage, credits: 1, reason: "bad photo" }), idempotent: true, expect: staffOnly(201) },
  { method: "POST", path: () => "/v1/staff/payments/recheck", body: () => ({ which: "needs-attention" }), expect: staffOnly(200) },
  { method: "GET", path: () => "/v1/staff/queues", expect: staffOnly(200) },
  { method: "GET", path: () => "/metrics", expect: staffOnly(200) },
  { method: "GET", path: () => "/v1/me", expect: read },
];

const send = (token: string | null, endpoint: Endpoint, orgId: string) =>
  world.call(token, endpoint.method, endpoint.path(orgId), {
    ...(endpoint.body ? { body: endpoint.body() } : {}),
    ...(endpoint.idempotent ? { headers: { "idempotency-key": randomUUID() } } : {}),
  });

describe("each role against each endpoint", () => {
  it.each(endpoints.map((endpoint) => [`${endpoint.method} ${endpoint.path(":org")}`, endpoint] as const))("%s", async (_name, endpoint) => {
    const tokens: Record<Role, string> = { admin: world.tokens.adminA, operator: world.tokens.operatorA, staff: world.tokens.staff };
    const got: Record<string, number> = {};
    for (const role of ["admin", "operator", "staff"] as const) {
      const response = await send(tokens[role], endpoint, ids.org);
      got[role] = response.status;
      if (response.status === 403) expect(response.data.error.code).toBe("PERMISSION_DENIED");
    }
    got.none = (await send(null, endpoint, ids.org)).status;
    got.revoked = (await send(revoked, endpoint, ids.org)).status;
    got.malformed = (await world.call(null, endpoint.method, endpoint.path(ids.org), { headers: { authorization: "Token abc" } })).status;
    expect(got).toEqual({ ...endpoint.expect, none: 401, revoked: 401, malformed: 401 });
  });
});

describe("org isolation", () => {
  const orgRoutes = endpoints.filter((endpoint) => endpoint.path("ORG").includes("/orgs/ORG"));

  it.each(orgRoutes.filter((e) => !e.path("ORG").includes("/staff/")).map((e) => [`${e.method} ${e.path(":org")}`, e] as const))(
    "another org's admin and operator get 404 for %s, never data", async (_name, endpoint) => {
      for (const token of [world.tokens.adminB, world.tokens.operatorB]) {
        const response = await send(token, endpoint, ids.org);
        expect(response.status).toBe(404);
        expect(response.data.error.code).toBe("ORG_NOT_FOUND");
        expect(JSON.stringify(response.data)).not.toContain(world.orgA.org.name);
      }
    });

  it("another org's event, payment and invoice answer 404 on the caller's own org", async () => {
    const orgB = world.orgB.org.id;
    const adminB = world.tokens.adminB;
    expect((await world.call(adminB, "GET", `/v1/orgs/${orgB}/transactions?eventId=${ids.event}`)).data.error.code).toBe("EVENT_NOT_FOUND");
    expect((await world.call(adminB, "GET", `/v1/orgs/${orgB}/transactions.csv?eventId=${ids.event}`)).status).toBe(404);
    expect((await world.call(adminB, "POST", `/v1/orgs/${orgB}/payments/${ids.payment}/recheck`)).data.error.code).toBe("PAYMENT_NOT_FOUND");
    expect((await world.call(adminB, "GET", `/v1/orgs/${orgB}/invoices/${ids.invoice}/pdf`)).data.error.code).toBe("INVOICE_NOT_FOUND");
    const refund = await world.call(world.tokens.staff, "POST", `/v1/staff/orgs/${orgB}/refunds`,
      { body: { usageTransactionId: ids.usage, credits: 1, reason: "wrong org" }, headers: { "idempotency-key": "x-org" } });
    expect(refund.status).toBe(404);
  });

  it("an org that does not exist answers 404 to staff too", async () => {
    const response = await world.call(world.tokens.staff, "GET", `/v1/orgs/${randomUUID()}/credits`);
    expect(response).toMatchObject({ status: 404, data: { error: { code: "ORG_NOT_FOUND" } } });
  });
});

describe("tokens", () => {
  it("takes Basic credentials only for the queue dashboard, where a browser needs them", async () => {
    const basic = { authorization: `Basic ${Buffer.from(`x:${world.tokens.staff}`).toString("base64")}` };
    expect((await world.call(null, "GET", "/v1/staff/queues", { headers: basic })).status).toBe(200);
    const post = await world.call(null, "POST", `/v1/orgs/${ids.org}/payments/recheck-stuck`, { headers: basic });
    expect(post).toMatchObject({ status: 401, data: { error: { code: "UNAUTHENTICATED" } } });
  });

  it("a token stops working once revoked; only its hash is stored", async () => {
    const issued = await issueApiToken(world.db, { userId: world.operatorA.id });
    expect((await world.call(issued.token, "GET", "/v1/me")).data).toMatchObject({ role: "OPERATOR", orgId: ids.org, tokenId: issued.id });
    const { rows } = await world.db.pool.query<{ token_hash: string }>("SELECT token_hash FROM api_token WHERE id = $1", [issued.id]);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0]!.token_hash).not.toContain(issued.token);
    await revokeApiToken(world.db, issued.id);
    expect((await world.call(issued.token, "GET", "/v1/me")).data.error).toMatchObject({ code: "UNAUTHENTICATED", message: "the API token is unknown or revoked" });
  });

  it("limits requests per token: the 4th in a minute gets 429, another token is not slowed", async () => {
    const config = loadConfig({ ...process.env, DATABASE_URL: world.db.url, QUEUE_PREFIX: world.queues.prefix, API_RATE_LIMIT_PER_MINUTE: "3" });
    const limited = await startApi(config, { db: world.db, logger: quietLogger, provider: world.payments.provider }, { port: 0, host: "127.0.0.1" });
    try {
      const get = (token: string, scheme = "Bearer") => fetch(`${limited.url}/v1/me`, { headers: { authorization: `${scheme} ${token}` } });
      const { token } = await issueApiToken(world.db, { userId: world.operatorB.id, label: "busy script" });
      const statuses = [];
      // However the token is spelt, it is one budget.
      for (const scheme of ["Bearer", "bearer", "BEARER", "Bearer"]) statuses.push((await get(token, scheme)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const refused = await get(token);
      expect(await refused.json()).toMatchObject({ error: { code: "RATE_LIMITED" } });
      expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
      const other = await issueApiToken(world.db, { userId: world.operatorB.id, label: "another script" });
      expect((await get(other.token)).status).toBe(200);
      expect((await fetch(`${limited.url}/health/live`)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it("answers 429 to an address that keeps trying unknown tokens; known tokens go on", async () => {
    const config = loadConfig({ ...process.env, DATABASE_URL: world.db.url, QUEUE_PREFIX: `${world.queues.prefix}-guesses`, API_FAILED_LOGINS_PER_MINUTE: "5" });
    const api = await startApi(config, { db: world.db, logger: quietLogger, provider: world.payments.provider }, { port: 0, host: "127.0.0.1" });
    try {
      const me = (token: string) => fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${token}` } });
      const statuses: number[] = [];
      for (let i = 0; i < 7; i += 1) statuses.push((await me(`cm_guess-${i}`)).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      expect((await me(world.tokens.adminB)).status).toBe(200);
    } finally {
      await api.close();
    }
  });

  it("request logs carry the request, never a token or an email address", async () => {
    await world.call(world.tokens.operatorA, "GET", "/v1/me");
    const logs = world.logLines.join("");
    expect(logs).toContain('"url":"/v1/me"');
    for (const token of Object.values(world.tokens)) expect(logs).not.toContain(token);
    expect(logs).not.toMatch(/[\w.+-]+@[\w-]+\.test/);
  });
});
