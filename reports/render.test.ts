import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureReservation, reserveCredits, grantCredits } from "../ledger/index.js";
import { LedgerBatcher } from "../ledger/ledger-batcher.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { backdateTransaction, makeOrg } from "../test/factories.js";
import { pdfText } from "../test/pdf-text.js";
import { buildStatement } from "./build-statement.js";
import { composeStatementMail } from "./compose-statement-mail.js";
import { toBuffer } from "./pdf-layout.js";
import { renderInvoice } from "./render-invoice.js";
import { renderUsageReport } from "./render-usage-report.js";

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db.drop(); });

const seller = { name: "Credits Platform Ltd", addressLines: ["1 Harbour Street"], taxId: "IE1234567X" };
const render = async (orgId: string, month: string) => pdfText(await toBuffer(renderUsageReport(await buildStatement(db, orgId, month, new Date("2026-11-01T06:00:00Z")))));

async function useAt(orgId: string, eventId: number, key: string, credits: number, at: Date) {
  await reserveCredits(db, { orgId, key, credits, usageType: "AI_IMAGE_ROTATION", eventId, ttlMs: 60_000 });
  const { transactionId } = await captureReservation(db, { orgId, key, creditsUsed: credits });
  await backdateTransaction(db, transactionId!, at);
}

describe("usage report PDF", () => {
  it("renders names in any script, and escapes HTML in the email", async () => {
    // 業 sits in a Noto Sans SC subset whose WOFF fontkit's own inflater cannot read.
    const name = `<b>Café</b> 📸 東京写真 卒業式 Αθήνα Москва`;
    const { org, event } = await makeOrg(db, { name, credits: 100 });
    await db.pool.query("UPDATE event SET name = $2 WHERE id = $1", [event.id, "Hochzeit Müller–Šćepanović 婚礼"]);
    await useAt(org.id, event.id, "u", 7, new Date("2026-10-10T10:00:00Z"));
    const { text } = await render(org.id, "2026-10");
    for (const part of ["<b>Café</b>", "📸", "東京写真", "卒業式", "Αθήνα", "Москва", "Hochzeit Müller–Šćepanović 婚礼"]) expect(text).toContain(part);
    const mail = composeStatementMail(await buildStatement(db, org.id, "2026-10"));
    expect(mail.subject).toBe(`${name}: usage statement for October 2026`);
    expect(mail.html).toContain("&lt;b&gt;Café&lt;/b&gt; 📸 東京写真");
    expect(mail.html).not.toContain("<b>Café</b>");
  });

  it("says so for an empty month", async () => {
    const { org } = await makeOrg(db);
    const { text } = await render(org.id, "2026-10");
    expect(text).toContain("No usage this month.");
    expect(text).toContain("No credits were added this month.");
  });

  it("follows the org's months: a DST month in Berlin, and February", async () => {
    const { org, event } = await makeOrg(db, { timeZone: "Europe/Berlin", credits: 1000 });
    await useAt(org.id, event.id, "mar-last", 5, new Date("2026-03-31T21:30:00Z")); // 23:30 CEST, 31 March
    await useAt(org.id, event.id, "apr-first", 9, new Date("2026-03-31T22:30:00Z")); // 00:30 CEST, 1 April
    await useAt(org.id, event.id, "feb-28", 3, new Date("2026-02-28T22:59:00Z")); // 23:59 CET, 28 February
    const march = await buildStatement(db, org.id, "2026-03");
    expect(march.daily).toHaveLength(31);
    expect(march.daily[30]).toBe(5);
    expect(march.creditsUsed).toBe(5);
    const february = await buildStatement(db, org.id, "2026-02");
    expect(february.daily).toHaveLength(28);
    expect(february.daily[27]).toBe(3);
    expect((await buildStatement(db, org.id, "2026-04")).creditsUsed).toBe(9);
    expect((await render(org.id, "2026-03")).text).toMatch(/Credits used 5/);
  });

  it("an org with 5,000 events breaks pages cleanly, repeating the table header", async () => {
    const { org } = await makeOrg(db);
    await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 100_000, idempotencyKey: "lots" });
    const events = await db.pool.query<{ id: number }>(
      "INSERT INTO event (org_id, name) SELECT $1, 'Event ' || n FROM generate_series(1, 5000) AS n RETURNING id", [org.id]);
    await db.pool.query(
      `INSERT INTO usage_run (org_id, run_id, usage_type, event_id, photo_ids, request_fingerprint)
       SELECT $1, 'run-' || e, 'PHOTO_PROCESSING', e, '{p}', 'f' FROM unnest($2::int[]) AS e`, [org.id, events.rows.map((e) => e.id)]);
    const batcher = new LedgerBatcher(db);
    await Promise.all(events.rows.map(async ({ id }) => {
      await batcher.reserve({ orgId: org.id, key: `k${id}`, credits: 1, usageType: "PHOTO_PROCESSING", eventId: id, reference: `run-${id}`, ttlMs: 60_000 });
      await batcher.capturePhotos({ orgId: org.id, key: `k${id}`, runId: `run-${id}`, photoIds: ["p"], creditsPerPhoto: 1, runDone: true });
    }));
    const { rows: [{ month }] } = await db.pool.query("SELECT to_char(now() AT TIME ZONE time_zone, 'YYYY-MM') AS month FROM organisation WHERE id = $1", [org.id]);
    const view = await buildStatement(db, org.id, month);
    expect(view.usageByEvent).toHaveLength(5000);
    const { text, pages } = await pdfText(await toBuffer(renderUsageReport(view)));
    expect(pages).toBeGreaterThan(50);
    const headers = text.match(/Event Event id Credits Runs/g) ?? [];
    expect(headers.length).toBeGreaterThanOrEqual(pages - 2);
    expect(text).toContain("Event 5000");
    expect(text).toContain("Event 1 ");
  }, 120_000);
});

describe("invoice PDF", () => {
  it("renders the same invoice to the same bytes", async () => {
    const invoice = {
      number: "INV-2026-000042", issuedAt: new Date("2026-10-02T09:00:00Z"), credits: 1_234, unitPrice: "0.0333", currency: "EUR",
      subtotalMinor: 4109n, taxRate: "0.19", taxMinor: 781n, totalMinor: 4890n, paymentReference: "pi_123",
      buyer: { orgName: "Northlight Photo", orgId: "5b0c1e0e-8c1e-4b7e-9a59-3f0c4f3a0d11", timeZone: "Europe/Berlin", contact: "Ada Admin" },
    };
    const [first, second] = await Promise.all([toBuffer(renderInvoice(invoice, seller)), toBuffer(renderInvoice(invoice, seller))]);
    expect(first.equals(second)).toBe(true);
    const { text } = await pdfText(first);
    for (const expected of ["INV-2026-000042", "1,234", "0.0333 EUR", "€41.09", "Tax (19 %)", "€7.81", "€48.90", "Paid", "2 Oct 2026"]) {
      expect(text).toContain(expected);
    }
  });
});
