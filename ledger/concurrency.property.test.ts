import fc from "fast-check";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { makeOrg, readBooks } from "../test/factories.js";
import { captureReservation, expireReservations, grantCredits, refundUsage, releaseReservation, reserveCredits } from "./index.js";

const reservers = 32;
let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase({ poolSize: reservers + 2 }); });
afterAll(async () => { await db.drop(); });

const step = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    kind: fc.constant("hold" as const),
    credits: fc.integer({ min: 1, max: 40 }),
    then: fc.constantFrom("capture-all", "capture-part", "release", "abandon"),
    fraction: fc.double({ min: 0, max: 1, noNaN: true }),
  }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("grant" as const), credits: fc.integer({ min: 1, max: 60 }), free: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("refund" as const), credits: fc.integer({ min: 1, max: 10 }) }) },
);

it("32 concurrent reservers never overdraw, and the books balance after any sequence", async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 400 }),
      fc.array(fc.array(step, { minLength: 1, maxLength: 6 }), { minLength: reservers, maxLength: reservers }),
      async (initialCredits, scripts) => {
        run += 1;
        const { org, event } = await makeOrg(db, { credits: initialCredits });
        let added = initialCredits;
        let charged = 0;
        const abandoned: string[] = [];

        let monitoring = true;
        const violations: string[] = [];
        const monitor = (async () => {
          while (monitoring) {
            const books = await readBooks(db, org.id);
            if (books.balance < 0 || books.reserved < 0 || books.reserved > books.balance) violations.push(JSON.stringify(books));
            await expireReservations(db);
          }
        })();

        await Promise.all(scripts.map(async (script, reserver) => {
          const myUsages: string[] = [];
          for (const [index, action] of script.entries()) {
            const key = `run${run}-r${reserver}-s${index}`;
            if (action.kind === "grant") {
              await grantCredits(db, { orgId: org.id, type: action.free ? "FREE_CREDITS" : "PURCHASE", credits: action.credits, idempotencyKey: key });
              added += action.credits;
            } else if (action.kind === "refund") {
              const usage = myUsages.pop();
              if (!usage) continue;
              const { rows } = await db.pool.query<{ refundable: string }>(
                `SELECT -u.credits - COALESCE((SELECT sum(r.credits) FROM credit_transaction r WHERE r.refund_of_id = u.id), 0) AS refundable
                 FROM credit_transaction u WHERE u.id = $1`, [usage]);
              const credits = Math.min(action.credits, Number(rows[0]!.refundable));
              if (credits === 0) continue;
              await refundUsage(db, { orgId: org.id, usageTransactionId: usage, credits, idempotencyKey: key, reason: "property test" });
              added += credits;
            } else {
              const hold = await reserveCredits(db, {
                orgId: org.id, key, credits: action.credits, usageType: "PHOTO_PROCESSING", eventId: event.id,
                ttlMs: action.then === "abandon" ? 1_000 : 60_000,
              });
              expect(hold.creditsReserved).toBeGreaterThanOrEqual(0);
              expect(hold.creditsReserved).toBeLessThanOrEqual(action.credits);
              if (action.then === "abandon") { abandoned.push(key); continue; }
              if (action.then === "release") { await releaseReservation(db, { orgId: org.id, key }); continue; }
              const used = action.then === "capture-all" ? hold.creditsReserved : Math.floor(hold.creditsReserved * action.fraction);
              const capture = await captureReservation(db, { orgId: org.id, key, creditsUsed: used });
              charged += capture.creditsCaptured;
              if (capture.transactionId) myUsages.push(capture.transactionId);
            }
          }
        }));

        // Abandoned holds expire within their 1 s expiry; the monitor sweeps them.
        const deadline = Date.now() + 5_000;
        while ((await readBooks(db, org.id)).heldReservations > 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        monitoring = false;
        await monitor;

        expect(violations).toEqual([]);
        const books = await readBooks(db, org.id);
        expect(books).toEqual({
          balance: added - charged,
          reserved: 0,
          ledgerSum: added - charged,
          heldReservations: 0,
          lotsRemaining: added - charged,
          lotsNotMatchingMovements: 0,
          transactionsNotMatchingMovements: 0,
        });
      },
    ),
    { numRuns: 8 },
  );
}, 180_000);
