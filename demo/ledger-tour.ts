import { randomUUID } from "node:crypto";
import type { Database } from "../prisma/database.js";
import { createOrganisation } from "../organisations/create-organisation.js";
import { createEvent } from "../organisations/create-event.js";
import { createUser } from "../organisations/create-user.js";
import {
  captureReservation, creditsUsedBySource, getBalance, grantCredits, listTransactions, monthlySummary,
  refundUsage, releaseReservation, reserveCredits, usageByEvent,
} from "../ledger/index.js";
import { formatTable } from "./print-table.js";

const heading = (text: string) => console.log(`\n== ${text}`);

/** Part 1: one organisation through the ledger's operations. */
export async function tourLedger(db: Database, config: { RESERVATION_TTL_MS: number }): Promise<string> {
  const runTag = randomUUID().slice(0, 8);
  const org = await createOrganisation(db, {
    name: `Lumen Event Photography (demo ${runTag})`, currency: "EUR", costPerCredit: "0.05", timeZone: "Europe/Berlin",
  });
  const admin = await createUser(db, { orgId: org.id, email: `ada+${runTag}@lumen.example`, name: "Ada Admin", role: "ADMIN" });
  const marathon = await createEvent(db, { orgId: org.id, name: "Harbour Marathon 2026" });
  const wedding = await createEvent(db, { orgId: org.id, name: "Müller–Sato Wedding" });
  heading(`Organisation ${org.name} (${org.id}), ${org.currency} ${org.costPerCredit} per credit, ${org.timeZone}`);

  await grantCredits(db, { orgId: org.id, type: "FREE_CREDITS", credits: 100, idempotencyKey: "welcome-credits" });
  await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 1000, idempotencyKey: "payment-1", userId: admin.id, reference: "demo payment" });
  // A retried request with the same key changes nothing.
  const replay = await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 1000, idempotencyKey: "payment-1", userId: admin.id, reference: "demo payment" });
  console.log(`purchase replayed with the same key: replayed=${replay.replayed}, balance still ${replay.balanceAfter}`);

  const runs = [
    { key: "run-marathon-1", event: marathon, usageType: "PHOTO_PROCESSING" as const, photos: 600, processed: 588, userId: admin.id },
    { key: "run-wedding-1", event: wedding, usageType: "PHOTO_PROCESSING" as const, photos: 240, processed: 240, userId: null },
    { key: "run-wedding-rotate", event: wedding, usageType: "AI_IMAGE_ROTATION" as const, photos: 400, processed: 400, userId: admin.id },
  ];
  for (const run of runs) {
    const hold = await reserveCredits(db, {
      orgId: org.id, key: run.key, credits: run.photos, usageType: run.usageType, eventId: run.event.id,
      userId: run.userId, reference: run.key, ttlMs: config.RESERVATION_TTL_MS,
    });
    const charged = Math.min(run.processed, hold.creditsReserved);
    const capture = await captureReservation(db, { orgId: org.id, key: run.key, creditsUsed: charged });
    console.log(`${run.key}: asked ${run.photos}, reserved ${hold.creditsReserved}, charged ${capture.creditsCaptured}, released ${capture.creditsReleased}, balance ${capture.balanceAfter}`);
  }

  const exhausted = await reserveCredits(db, {
    orgId: org.id, key: "run-too-big", credits: 5000, usageType: "PHOTO_PROCESSING", eventId: marathon.id, ttlMs: config.RESERVATION_TTL_MS,
  });
  console.log(`run-too-big: asked 5000, reserved ${exhausted.creditsReserved} (all that was available)`);
  await releaseReservation(db, { orgId: org.id, key: "run-too-big" });

  const firstUsage = (await listTransactions(db, { orgId: org.id, tab: "usage", limit: 500 })).items.at(-1)!;
  await refundUsage(db, { orgId: org.id, usageTransactionId: firstUsage.id, credits: 12, idempotencyKey: "refund-blurry", userId: admin.id, reason: "12 blurry photos re-shot" });
  await grantCredits(db, { orgId: org.id, type: "ADMIN_GRANT", credits: 50, idempotencyKey: "goodwill", reference: "goodwill after outage" });

  heading("Balance");
  console.log(formatTable([await getBalance(db, org.id)]));

  heading("Transactions (newest first)");
  const { items } = await listTransactions(db, { orgId: org.id, limit: 50 });
  console.log(formatTable(items.map((t) => ({
    id: t.id, type: t.type, usageType: t.usageType ?? "", credits: t.credits, event: t.eventName ? `${t.eventName} (#${t.eventId})` : "",
    by: t.actor, balanceAfter: t.balanceAfter, reference: t.reference ?? "", at: t.createdAt,
  }))));

  heading("Monthly summary (this month and the three before it)");
  console.log(formatTable((await monthlySummary(db, { orgId: org.id })).map(({ startsAt: _s, endsAt: _e, ...month }) => month)));

  heading("Usage by event");
  console.log(formatTable(await usageByEvent(db, { orgId: org.id })));

  const month = (await monthlySummary(db, { orgId: org.id, months: 1 }))[0]!;
  heading(`Credits used in ${month.month} by source`);
  console.log(formatTable([await creditsUsedBySource(db, { orgId: org.id, from: month.startsAt, to: month.endsAt })]));

  const books = await db.pool.query<{ balance: string; ledger_sum: string }>(
    `SELECT balance_credits AS balance, (SELECT sum(credits) FROM credit_transaction WHERE org_id = $1) AS ledger_sum
     FROM organisation WHERE id = $1`, [org.id]);
  const { balance, ledger_sum } = books.rows[0]!;
  heading(`Cached balance ${balance} ${balance === ledger_sum ? "==" : "!="} ledger sum ${ledger_sum}`);
  if (balance !== ledger_sum) throw new Error(`books do not balance: cached ${balance}, ledger ${ledger_sum}`);
  return org.id;
}
