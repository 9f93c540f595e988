import { afterAll, beforeAll, expect, it } from "vitest";
import { startApiWorld, type ApiWorld } from "../test/api-harness.js";

let world: ApiWorld;
beforeAll(async () => { world = await startApiWorld(); }, 60_000);
afterAll(async () => { await world.close(); });

const purchases = () => `/v1/orgs/${world.orgA.org.id}/purchases`;
const grants = () => `/v1/staff/orgs/${world.orgA.org.id}/grants`;
const key = { "idempotency-key": "k-1" };

/** Each bad request, who sends it, and the status and words the answer must carry. */
const cases: { name: string; send: () => ReturnType<ApiWorld["call"]>; status: number; code: string; says: string }[] = [
  { name: "purchase without credits", send: () => world.call(world.tokens.adminA, "POST", purchases(), { body: {}, headers: key }), status: 422, code: "INVALID_INPUT", says: "body.credits" },
  { name: "credits as a string", send: () => world.call(world.tokens.adminA, "POST", purchases(), { body: { credits: "5000" }, headers: key }), status: 422, code: "INVALID_INPUT", says: "body.credits: must be a number of credits" },
  { name: "fractional credits", send: () => world.call(world.tokens.adminA, "POST", purchases(), { body: { credits: 1000.5 }, headers: key }), status: 422, code: "INVALID_INPUT", says: "body.credits: must be a whole number of credits" },
  { name: "a huge number of credits", send: () => world.call(world.tokens.adminA, "POST", purchases(), { body: { credits: 1e30 }, headers: key }), status: 422, code: "INVALID_INPUT", says: "body.credits: must be at most 10,000,000" },
  { name: "an unknown field", send: () => world.call(world.tokens.adminA, "POST", purchases(), { body: { credits: 1000, price: "0.0001" }, headers: key }), status: 422, code: "INVALID_INPUT", says: "price" },
  { name: "no idempotency key", send: () => world.call(world.tokens.adminA, "POST", purchases(), { body: { credits: 1000 } }), status: 422, code: "INVALID_INPUT", says: "headers.idempotency-key" },
  { name: "a body that is not JSON", send: () => world.call(world.tokens.adminA, "POST", purchases(), { rawBody: "{credits: 1000", headers: key }), status: 400, code: "MALFORMED_REQUEST", says: "JSON" },
  { name: "a body larger than the limit", send: () => world.call(world.tokens.adminA, "POST", purchases(), { rawBody: JSON.stringify({ credits: 1000, pad: "x".repeat(20_000) }), headers: key }), status: 413, code: "BODY_TOO_LARGE", says: "" },
  { name: "grant of a negative amount", send: () => world.call(world.tokens.staff, "POST", grants(), { body: { type: "ADMIN_GRANT", credits: -5, reason: "x" }, headers: key }), status: 422, code: "INVALID_INPUT", says: "body.credits: must be greater than 0" },
  { name: "grant of the wrong type", send: () => world.call(world.tokens.staff, "POST", grants(), { body: { type: "PURCHASE", credits: 5, reason: "x" }, headers: key }), status: 422, code: "INVALID_INPUT", says: "body.type: must be ADMIN_GRANT or FREE_CREDITS" },
  { name: "grant without a reason", send: () => world.call(world.tokens.staff, "POST", grants(), { body: { type: "ADMIN_GRANT", credits: 5 }, headers: key }), status: 422, code: "INVALID_INPUT", says: "body.reason" },
  { name: "an org id that is not a UUID", send: () => world.call(world.tokens.adminA, "GET", "/v1/orgs/not-a-uuid/credits"), status: 422, code: "INVALID_INPUT", says: "params.orgId: must be an organisation id (UUID)" },
  { name: "a page size of 10,000", send: () => world.call(world.tokens.adminA, "GET", `/v1/orgs/${world.orgA.org.id}/transactions?limit=10000`), status: 422, code: "INVALID_INPUT", says: "querystring.limit: must be at most 500" },
  { name: "an unknown transaction type", send: () => world.call(world.tokens.adminA, "GET", `/v1/orgs/${world.orgA.org.id}/transactions?type=USAGE,BONUS`), status: 422, code: "INVALID_INPUT", says: "querystring.type: must be a comma-separated list" },
  { name: "a date that is not a date", send: () => world.call(world.tokens.adminA, "GET", `/v1/orgs/${world.orgA.org.id}/transactions?from=yesterday`), status: 422, code: "INVALID_INPUT", says: "querystring.from: must be an ISO 8601 date-time" },
  { name: "a forged cursor", send: () => world.call(world.tokens.adminA, "GET", `/v1/orgs/${world.orgA.org.id}/payments?cursor=AAAA`), status: 422, code: "INVALID_INPUT", says: "querystring.cursor" },
  { name: "a cursor beyond bigint", send: () => world.call(world.tokens.adminA, "GET", `/v1/orgs/${world.orgA.org.id}/transactions?cursor=9999999999999999999`), status: 422, code: "INVALID_INPUT", says: "querystring.cursor" },
  { name: "a payments cursor naming no payment id", send: () => world.call(world.tokens.adminA, "GET", `/v1/orgs/${world.orgA.org.id}/payments?cursor=${Buffer.from(JSON.stringify(["2026-01-01T00:00:00.000Z", "x"])).toString("base64url")}`), status: 422, code: "INVALID_INPUT", says: "querystring.cursor" },
  { name: "month 0000-01", send: () => world.call(world.tokens.adminA, "GET", `/v1/orgs/${world.orgA.org.id}/statements/0000-01/usage-report.pdf`), status: 422, code: "INVALID_INPUT", says: "params.month" },
  { name: "an idempotency key in the ledger's own space", send: () => world.call(world.tokens.staff, "POST", grants(), { body: { type: "ADMIN_GRANT", credits: 5, reason: "x" }, headers: { "idempotency-key": "payment:123" } }), status: 422, code: "INVALID_INPUT", says: "headers.idempotency-key" },
  { name: "an unknown query parameter", send: () => world.call(world.tokens.adminA, "GET", `/v1/orgs/${world.orgA.org.id}/credits?include=costPerCredit&debug=1`), status: 422, code: "INVALID_INPUT", says: "debug" },
  { name: "an unknown route", send: () => world.call(world.tokens.adminA, "GET", "/v1/nothing-here"), status: 404, code: "NOT_FOUND", says: "/v1/nothing-here" },
];

it.each(cases.map((c) => [c.name, c] as const))("%s: a clear error, and nothing written", async (_name, c) => {
  const before = await world.db.pool.query<{ payments: string; transactions: string }>(
    "SELECT (SELECT count(*) FROM payment) AS payments, (SELECT count(*) FROM credit_transaction) AS transactions");
  const response = await c.send();
  expect(response.status).toBe(c.status);
  expect(response.data.error.code).toBe(c.code);
  expect(response.data.error.message).toContain(c.says);
  const after = await world.db.pool.query("SELECT (SELECT count(*) FROM payment) AS payments, (SELECT count(*) FROM credit_transaction) AS transactions");
  expect(after.rows[0]).toEqual(before.rows[0]);
});
