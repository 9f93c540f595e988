import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureReservation, reserveCredits } from "../ledger/index.js";
import { startApiWorld, type ApiWorld } from "../test/api-harness.js";
import { pdfText } from "../test/pdf-text.js";

let world: ApiWorld;
beforeAll(async () => { world = await startApiWorld(); }, 60_000);
afterAll(async () => { await world.close(); });

const buy = (token: string, orgId: string, credits: unknown, key: string) =>
  world.call(token, "POST", `/v1/orgs/${orgId}/purchases`, { body: { credits }, headers: { "idempotency-key": key } });

async function intentOf(paymentId: string): Promise<string> {
  const { rows } = await world.db.pool.query<{ provider_intent_id: string }>("SELECT provider_intent_id FROM payment WHERE id = $1", [paymentId]);
  return rows[0]!.provider_intent_id;
}

describe("purchases", () => {
  it("an admin buys credits at the org's price; the same key again charges nothing more", async () => {
    world.payments.simulator.setScenario({ outcome: "succeed", webhook: "never" });
    const orgId = world.orgA.org.id;
    const first = await buy(world.tokens.adminA, orgId, 2_000, "buy-1");
    expect(first).toMatchObject({ status: 201, data: { status: "SUCCEEDED", credits: 2_000, currency: "EUR", totalMinor: "10000", total: "€100.00", replayed: false } });
    expect(first.data.invoiceNumber).toMatch(/\S+/);
    const again = await buy(world.tokens.adminA, orgId, 2_000, "buy-1");
    expect(again).toMatchObject({ status: 200, data: { paymentId: first.data.paymentId, replayed: true } });
    const other = await buy(world.tokens.adminA, orgId, 3_000, "buy-1");
    expect(other).toMatchObject({ status: 409, data: { error: { code: "IDEMPOTENCY_CONFLICT" } } });
    const credits = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/credits`);
    expect(credits.data.balanceCredits).toBe(7_000);
  });

  it("refuses fewer than 1,000 credits, naming the field and the rule", async () => {
    const response = await buy(world.tokens.adminA, world.orgA.org.id, 999, "buy-small");
    expect(response.status).toBe(422);
    expect(response.data.error).toMatchObject({ code: "INVALID_INPUT" });
    expect(response.data.error.message).toContain("body.credits: must be at least 1,000");
    expect((await world.db.pool.query("SELECT 1 FROM payment WHERE idempotency_key = 'buy-small'")).rowCount).toBe(0);
  });
});

describe("payments and rechecks", () => {
  it("lists payments with their status, newest first, paginated", async () => {
    world.payments.simulator.setScenario({ outcome: "fail", webhook: "never" });
    const orgId = world.orgB.org.id;
    await buy(world.tokens.adminB, orgId, 1_000, "b-fail");
    world.payments.simulator.setScenario({ outcome: "succeed", webhook: "never" });
    await buy(world.tokens.adminB, orgId, 1_500, "b-ok");
    const first = await world.call(world.tokens.adminB, "GET", `/v1/orgs/${orgId}/payments?limit=1`);
    expect(first.data.items.map((p: { status: string; credits: number }) => [p.status, p.credits])).toEqual([["SUCCEEDED", 1_500]]);
    const second = await world.call(world.tokens.adminB, "GET", `/v1/orgs/${orgId}/payments?limit=1&cursor=${first.data.nextCursor}`);
    expect(second.data.items.map((p: { status: string; failureReason: string }) => p.status)).toEqual(["FAILED"]);
    expect(second.data.nextCursor).toBeNull();
    const failed = await world.call(world.tokens.adminB, "GET", `/v1/orgs/${orgId}/payments?status=FAILED`);
    expect(failed.data.items).toHaveLength(1);
  });

  it("an admin rechecks a stuck payment of the org: credited once when the provider says so", async () => {
    const orgId = world.orgA.org.id;
    world.payments.simulator.setScenario({ outcome: "pending", webhook: "never" });
    const pending = await buy(world.tokens.adminA, orgId, 1_000, "buy-pending");
    expect(pending.data.status).toBe("PENDING");
    const still = await world.call(world.tokens.adminA, "POST", `/v1/orgs/${orgId}/payments/${pending.data.paymentId}/recheck`);
    expect(still).toMatchObject({ status: 200, data: { oldStatus: "PENDING", newStatus: "PENDING", creditsAdded: 0 } });
    world.payments.simulator.settle(await intentOf(pending.data.paymentId), "succeeded");
    const stuck = await world.call(world.tokens.adminA, "POST", `/v1/orgs/${orgId}/payments/recheck-stuck`);
    expect(stuck.status).toBe(200);
    expect(stuck.data.rechecked).toEqual([expect.objectContaining({ paymentId: pending.data.paymentId, newStatus: "SUCCEEDED", creditsAdded: 1_000 })]);
    const again = await world.call(world.tokens.adminA, "POST", `/v1/orgs/${orgId}/payments/recheck-stuck`);
    expect(again.data.rechecked).toEqual([]);
  });

  it("staff recheck stuck payments across orgs", async () => {
    world.payments.simulator.setScenario({ outcome: "pending", webhook: "never" });
    const pendingB = await buy(world.tokens.adminB, world.orgB.org.id, 1_000, "b-pending");
    world.payments.simulator.settle(await intentOf(pendingB.data.paymentId), "failed");
    const response = await world.call(world.tokens.staff, "POST", "/v1/staff/payments/recheck", { body: { which: "stuck" } });
    expect(response.status).toBe(200);
    expect(response.data.rechecked).toEqual([expect.objectContaining({ paymentId: pendingB.data.paymentId, newStatus: "FAILED" })]);
  });
});

describe("invoices and usage reports", () => {
  it("lists invoices and downloads one as PDF whose text carries the invoice's figures", async () => {
    const orgId = world.orgA.org.id;
    const list = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/invoices`);
    expect(list.status).toBe(200);
    const invoice = list.data.items.find((i: { credits: number }) => i.credits === 2_000);
    expect(invoice).toMatchObject({ currency: "EUR", totalMinor: "10000", total: "€100.00" });
    const download = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/invoices/${invoice.id}/pdf`);
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toBe("application/pdf");
    expect(download.headers.get("content-disposition")).toContain(`${invoice.number}.pdf`);
    const { text } = await pdfText(download.data);
    for (const expected of [invoice.number, "Northlight Photo", "2,000", "€100.00", "Paid"]) expect(text).toContain(expected);
    const staffCopy = await world.call(world.tokens.staff, "GET", `/v1/orgs/${orgId}/invoices/${invoice.id}/pdf`);
    expect((await pdfText(staffCopy.data)).text).toBe(text);
  });

  it("downloads this month's usage report as PDF; a future month is refused", async () => {
    const orgId = world.orgA.org.id;
    const { data: months } = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/usage/monthly`);
    const month = months.months[0].month as string;
    const report = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/statements/${month}/usage-report.pdf`);
    expect(report.status).toBe(200);
    const { text } = await pdfText(report.data);
    expect(text).toContain("Northlight Photo");
    const future = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/statements/2999-01/usage-report.pdf`);
    expect(future).toMatchObject({ status: 422, data: { error: { code: "INVALID_INPUT" } } });
    const malformed = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/statements/2026-13/usage-report.pdf`);
    expect(malformed.status).toBe(422);
    expect(malformed.data.error.message).toContain("params.month: must be a month as YYYY-MM");
  });
});

describe("staff credits", () => {
  it("grants free credits and refunds usage with a reason; a replayed key changes nothing", async () => {
    const orgId = world.orgB.org.id;
    const grant = await world.call(world.tokens.staff, "POST", `/v1/staff/orgs/${orgId}/grants`,
      { body: { type: "FREE_CREDITS", credits: 250, reason: "Welcome offer" }, headers: { "idempotency-key": "welcome" } });
    expect(grant).toMatchObject({ status: 201, data: { replayed: false } });
    const replay = await world.call(world.tokens.staff, "POST", `/v1/staff/orgs/${orgId}/grants`,
      { body: { type: "FREE_CREDITS", credits: 250, reason: "Welcome offer" }, headers: { "idempotency-key": "welcome" } });
    expect(replay).toMatchObject({ status: 200, data: { transactionId: grant.data.transactionId, replayed: true } });
    const history = await world.call(world.tokens.adminB, "GET", `/v1/orgs/${orgId}/transactions?type=FREE_CREDITS&limit=1`);
    expect(history.data.items[0]).toMatchObject({ credits: 250, actor: "System", reference: "Welcome offer (staff: Sam Support)" });

    await reserveCredits(world.db, { orgId, key: "b-run", credits: 5, usageType: "PHOTO_PROCESSING", eventId: world.orgB.event.id, ttlMs: 60_000 });
    const usageId = (await captureReservation(world.db, { orgId, key: "b-run", creditsUsed: 5 })).transactionId!;
    const refund = (credits: number, key: string, org = orgId) => world.call(world.tokens.staff, "POST", `/v1/staff/orgs/${org}/refunds`,
      { body: { usageTransactionId: usageId, credits, reason: "Blurry photos" }, headers: { "idempotency-key": key } });
    expect(await refund(2, "refund-1")).toMatchObject({ status: 201 });
    expect(await refund(4, "refund-2")).toMatchObject({ status: 409, data: { error: { code: "REFUND_EXCEEDS_USAGE" } } });
    expect(await refund(1, "refund-3", world.orgA.org.id)).toMatchObject({ status: 404, data: { error: { code: "USAGE_TRANSACTION_NOT_FOUND" } } });
  });
});
