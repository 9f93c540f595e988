import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureReservation, grantCredits, reserveCredits } from "../ledger/index.js";
import { createEvent } from "../organisations/create-event.js";
import { startApiWorld, type ApiWorld } from "../test/api-harness.js";

let world: ApiWorld;
let usageId: string;
beforeAll(async () => {
  world = await startApiWorld();
  const { orgA } = world;
  await reserveCredits(world.db, { orgId: orgA.org.id, key: "run-1", credits: 7, usageType: "PHOTO_PROCESSING", eventId: orgA.event.id, userId: orgA.admin.id, reference: "run-1", ttlMs: 60_000 });
  usageId = (await captureReservation(world.db, { orgId: orgA.org.id, key: "run-1", creditsUsed: 7 })).transactionId!;
  const gala = await createEvent(world.db, { orgId: orgA.org.id, name: "=HYPERLINK(\"x\") Gala" });
  await reserveCredits(world.db, { orgId: orgA.org.id, key: "run-2", credits: 3, usageType: "AI_IMAGE_ROTATION", eventId: gala.id, reference: "run-2", ttlMs: 60_000 });
  await captureReservation(world.db, { orgId: orgA.org.id, key: "run-2", creditsUsed: 3 });
}, 60_000);
afterAll(async () => { await world.close(); });

describe("credits", () => {
  it("answers the balance, reserved credits and processing state; hides the cost per credit unless asked", async () => {
    const plain = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${world.orgA.org.id}/credits`);
    expect(plain).toMatchObject({ status: 200, data: { availableCredits: 4990, balanceCredits: 4990, reservedCredits: 0, processingState: "active", customBilling: false } });
    expect(plain.data).not.toHaveProperty("costPerCredit");
    const asked = await world.call(world.tokens.operatorA, "GET", `/v1/orgs/${world.orgA.org.id}/credits?include=costPerCredit`);
    expect(asked.data.costPerCredit).toEqual({ amount: "0.05", currency: "EUR" });
  });

  it("never shows a cost per credit for custom billing", async () => {
    await world.db.pool.query("UPDATE organisation SET cost_per_credit = NULL WHERE id = $1", [world.orgB.org.id]);
    try {
      const response = await world.call(world.tokens.adminB, "GET", `/v1/orgs/${world.orgB.org.id}/credits?include=costPerCredit`);
      expect(response.data).toMatchObject({ customBilling: true });
      expect(response.data).not.toHaveProperty("costPerCredit");
    } finally {
      await world.db.pool.query("UPDATE organisation SET cost_per_credit = 0.05 WHERE id = $1", [world.orgB.org.id]);
    }
  });

  it("gives the four monthly cards, current month first", async () => {
    const { status, data } = await world.call(world.tokens.operatorA, "GET", `/v1/orgs/${world.orgA.org.id}/usage/monthly`);
    expect(status).toBe(200);
    expect(data.months).toHaveLength(4);
    expect(data.months[0]).toMatchObject({ creditsUsed: 10, creditsAdded: 5000, netCredits: 4990, usageTransactionCount: 2, current: true });
    expect(data.months.slice(1).every((m: { current: boolean }) => !m.current)).toBe(true);
  });

  it("gives usage by event, largest first", async () => {
    const { data } = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${world.orgA.org.id}/usage/events`);
    expect(data.events.map((e: { eventName: string; creditsUsed: number; runs: number }) => [e.eventName, e.creditsUsed, e.runs]))
      .toEqual([[world.orgA.event.name, 7, 1], ["=HYPERLINK(\"x\") Gala", 3, 1]]);
  });

  it("describes the subscription: Pay As You Go, no expiry", async () => {
    const { data } = await world.call(world.tokens.operatorA, "GET", `/v1/orgs/${world.orgA.org.id}/subscription`);
    expect(data).toMatchObject({ plan: "PAY_AS_YOU_GO", name: "Pay As You Go", expiresAt: null });
  });
});

describe("transactions", () => {
  it("lists the Usage tab with usage type, event, user or System", async () => {
    const { data } = await world.call(world.tokens.operatorA, "GET", `/v1/orgs/${world.orgA.org.id}/transactions?tab=usage`);
    expect(data.items.map((t: Record<string, unknown>) => [t.type, t.usageType, t.credits, t.eventName, t.actor])).toEqual([
      ["USAGE", "AI_IMAGE_ROTATION", -3, "=HYPERLINK(\"x\") Gala", "System"],
      ["USAGE", "PHOTO_PROCESSING", -7, world.orgA.event.name, "Ada Admin"],
    ]);
    expect(data.items[1].id).toBe(usageId);
  });

  it("lists the Purchase History tab, and filters by type, event and date range", async () => {
    const orgId = world.orgA.org.id;
    const purchases = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/transactions?tab=purchases`);
    expect(purchases.data.items.map((t: { type: string }) => t.type)).toEqual(["PURCHASE"]);
    const byEvent = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/transactions?eventId=${world.orgA.event.id}`);
    expect(byEvent.data.items.map((t: { id: string }) => t.id)).toEqual([usageId]);
    const byType = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/transactions?type=PURCHASE,USAGE`);
    expect(byType.data.items).toHaveLength(3);
    const future = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/transactions?from=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`);
    expect(future.data.items).toEqual([]);
    const past = await world.call(world.tokens.adminA, "GET", `/v1/orgs/${orgId}/transactions?to=2020-01-01T00:00:00Z`);
    expect(past.data.items).toEqual([]);
  });

  it("pages newest first without repeating or skipping rows while new transactions arrive", async () => {
    const { org } = world.orgB;
    for (let i = 0; i < 5; i += 1) await grantCredits(world.db, { orgId: org.id, type: "FREE_CREDITS", credits: 1, idempotencyKey: `before-${i}` });
    const seen: string[] = [];
    let page = await world.call(world.tokens.adminB, "GET", `/v1/orgs/${org.id}/transactions?limit=2`);
    seen.push(...page.data.items.map((t: { id: string }) => t.id));
    while (page.data.nextCursor) {
      await grantCredits(world.db, { orgId: org.id, type: "FREE_CREDITS", credits: 1, idempotencyKey: `during-${seen.length}` });
      page = await world.call(world.tokens.adminB, "GET", `/v1/orgs/${org.id}/transactions?limit=2&cursor=${page.data.nextCursor}`);
      seen.push(...page.data.items.map((t: { id: string }) => t.id));
    }
    // Everything that existed at the first page, once each, newest first.
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    expect([...seen].sort((a, b) => Number(b) - Number(a))).toEqual(seen);
  });

  it("exports the same rows as CSV, with cells a spreadsheet would run made inert", async () => {
    const response = await world.call(world.tokens.operatorA, "GET", `/v1/orgs/${world.orgA.org.id}/transactions.csv`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/csv");
    expect(response.headers.get("content-disposition")).toContain("attachment");
    const lines = (response.data as string).trim().split("\n");
    expect(lines[0]).toBe("id,created_at,type,usage_type,credits,balance_after,event_id,event_name,actor,reference");
    expect(lines).toHaveLength(4);
    expect(lines[1]).toContain(`"'=HYPERLINK(""x"") Gala"`);
    expect(lines[2]).toMatch(new RegExp(`^${usageId},.*,USAGE,PHOTO_PROCESSING,-7,4993,${world.orgA.event.id},`));
    const usageOnly = await world.call(world.tokens.operatorA, "GET", `/v1/orgs/${world.orgA.org.id}/transactions.csv?tab=purchases`);
    expect((usageOnly.data as string).trim().split("\n")).toHaveLength(2);
  });

  it("a database failure part-way through an export cuts the download, and the API goes on serving", async () => {
    const { org, event } = world.orgB;
    await world.db.pool.query(
      `INSERT INTO credit_transaction (org_id, type, usage_type, credits, event_id, balance_after, idempotency_key, request_fingerprint)
       SELECT $1, 'USAGE', 'PHOTO_PROCESSING', -1, $2, 0, 'export-' || n, 'export' FROM generate_series(1, 20000) AS n`,
      [org.id, event.id]);
    const response = await fetch(`${world.api.url}/v1/orgs/${org.id}/transactions.csv`, { headers: { authorization: `Bearer ${world.tokens.adminB}` } });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await reader.read();
    // Every session of this database ends, the export's next page among them.
    await world.db.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    let received = 0;
    await expect((async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return received;
        received += value.length;
      }
    })()).rejects.toThrow();
    expect((await world.call(world.tokens.adminB, "GET", `/v1/orgs/${org.id}/credits`)).status).toBe(200);
  });
});
