import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError, type ErrorCode } from "../core/errors.js";
import { createUser } from "../organisations/create-user.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { makeOrg } from "../test/factories.js";
import { startPaymentsWorld, webhookSecret } from "../test/payments-harness.js";
import { purchaseCredits } from "./purchase-credits.js";
import { signatureHeader, signWebhook } from "./webhook-signature.js";

let db: TestDatabase;
let world: Awaited<ReturnType<typeof startPaymentsWorld>>;
let org: Awaited<ReturnType<typeof makeOrg>>;
let operatorId: string;
let customBilling: Awaited<ReturnType<typeof makeOrg>>;

beforeAll(async () => {
  db = await createTestDatabase();
  world = await startPaymentsWorld(db);
  org = await makeOrg(db);
  operatorId = (await createUser(db, { orgId: org.org.id, email: "op@example.test", name: "Oli Operator", role: "OPERATOR" })).id;
  customBilling = await makeOrg(db, { costPerCredit: null, name: "Enterprise Studio" });
});
afterAll(async () => {
  await world.close();
  await db.drop();
});

async function written() {
  const { rows } = await db.pool.query(
    `SELECT (SELECT count(*) FROM payment) AS payments, (SELECT count(*) FROM credit_transaction) AS transactions,
            (SELECT count(*) FROM invoice) AS invoices`);
  return { ...rows[0], intents: world.simulator.intents.size };
}

const purchase = (fields: Record<string, unknown>) => () =>
  purchaseCredits(world.deps, { orgId: org.org.id, userId: org.admin.id, credits: 1_000, idempotencyKey: randomUUID(), ...fields });

const cases: [string, () => Promise<unknown>, ErrorCode, RegExp][] = [
  ["999 credits", purchase({ credits: 999 }), "INVALID_INPUT", /credits: must be at least 1,000/],
  ["0 credits", purchase({ credits: 0 }), "INVALID_INPUT", /credits: must be at least 1,000/],
  ["negative credits", purchase({ credits: -1_000 }), "INVALID_INPUT", /credits: must be at least 1,000/],
  ["fractional credits", purchase({ credits: 1_000.5 }), "INVALID_INPUT", /credits: must be a whole number of credits/],
  ["string credits", purchase({ credits: "1000" }), "INVALID_INPUT", /credits: must be a number of credits/],
  ["above the maximum", purchase({ credits: 10_000_001 }), "INVALID_INPUT", /credits: must be at most 10,000,000/],
  ["unknown org", purchase({ orgId: randomUUID() }), "ORG_NOT_FOUND", /organisation .* not found/],
  ["operator role", () => purchase({ userId: operatorId })(), "PERMISSION_DENIED", /only the organisation's admins can buy credits/],
  ["custom-billing org", () => purchase({ orgId: customBilling.org.id, userId: customBilling.admin.id })(), "CUSTOM_BILLING", /custom billing: contact support/],
];

describe("bad purchases get a clear error and write nothing", () => {
  it.each(cases)("%s", async (_name, call, code, message) => {
    const before = await written();
    const error = await call().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe(code);
    expect((error as AppError).message).toMatch(message);
    expect(await written()).toEqual(before);
  });
});

describe("webhooks that are not the provider's change nothing", () => {
  const event = (intentId: string) => JSON.stringify({
    id: `evt_${randomUUID()}`, type: "payment_intent.succeeded", created: 0, data: { intentId, status: "succeeded" },
  });
  const post = (body: string, signature: string) =>
    fetch(world.webhookUrl, { method: "POST", headers: { "content-type": "application/json", [signatureHeader]: signature }, body });

  it.each([
    ["forged signature", (body: string) => signWebhook(body, "not-the-shared-secret-at-all"), 401, "WEBHOOK_SIGNATURE_INVALID"],
    ["no signature", () => "", 401, "WEBHOOK_SIGNATURE_INVALID"],
    ["stale timestamp (a replay)", (body: string) => signWebhook(body, webhookSecret, new Date(Date.now() - 3_600_000)), 401, "WEBHOOK_TIMESTAMP_STALE"],
    ["unknown payment", (body: string) => signWebhook(body, webhookSecret), 404, "WEBHOOK_UNKNOWN_PAYMENT"],
  ] as const)("%s", async (_name, sign, status, code) => {
    world.simulator.setScenario({ outcome: "pending", webhook: "never" });
    const pending = await purchase({})();
    const before = await written();
    const intentId = _name === "unknown payment" ? "pi_nobody_knows" : (await db.prisma.payment.findUniqueOrThrow({ where: { id: pending.paymentId } })).providerIntentId!;
    const body = event(intentId);
    const response = await post(body, sign(body));
    expect(response.status).toBe(status);
    expect(await response.json()).toMatchObject({ code });
    expect(await written()).toEqual(before);
    expect((await db.prisma.payment.findUniqueOrThrow({ where: { id: pending.paymentId } })).status).toBe("PENDING");
  });
});
