import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { grantCredits } from "../ledger/index.js";
import { createEvent } from "../organisations/create-event.js";
import { createOrganisation } from "../organisations/create-organisation.js";
import type { Database } from "../prisma/database.js";
import { cpuPerItem, readCpu, type CpuPerItem } from "./cpu-meter.js";

const runsPerStatement = 100;

/**
 * What PostgreSQL cannot be spared per photo under the metering rules, with
 * no worker, queue or hold around it: record the run, write each photo's
 * fence row, one Usage transaction and its lot movement per run, and mark the
 * run completed, 100 runs per statement on two connections, for one org with
 * one lot (the cheapest case). Holds are left out, since a design could share
 * one among many runs. Whatever the workers do comes on top, so this bounds
 * how close to a ceiling metering can come on this machine.
 */
export async function measureMeteringFloor(db: Database, options: { runs: number; photosPerRun: number }): Promise<{ photosPerSecond: number; cpu: CpuPerItem | null }> {
  const tag = randomUUID().slice(0, 8);
  const org = await createOrganisation(db, { name: `Floor ${tag}`, currency: "EUR", costPerCredit: "0.05", timeZone: "UTC" });
  const event = await createEvent(db, { orgId: org.id, name: "Floor event" });
  await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 100_000_000, idempotencyKey: `floor-${tag}` });
  const { rows: [lot] } = await db.pool.query<{ id: string }>("SELECT id FROM credit_lot WHERE org_id = $1", [org.id]);
  const photos = Array.from({ length: options.photosPerRun }, (_, p) => `photo-${p}`);

  const write = async (first: number) => {
    const runIds = Array.from({ length: runsPerStatement }, (_, i) => `${tag}-${first + i}`);
    const recorded = await db.pool.query<{ run_id: string; sequence: string }>(
      `INSERT INTO usage_run (org_id, run_id, usage_type, event_id, photo_ids, request_fingerprint)
       SELECT $1, r, 'PHOTO_PROCESSING', $2, $4::text[], 'floor' FROM unnest($3::text[]) AS r
       RETURNING run_id, sequence`,
      [org.id, event.id, runIds, photos],
    );
    const sequences = new Map(recorded.rows.map((row) => [row.run_id, row.sequence]));
    await db.pool.query(
      `WITH org AS (UPDATE organisation SET balance_credits = balance_credits - $4 WHERE id = $1 RETURNING balance_credits),
       runs AS (SELECT r, seq, nextval('credit_transaction_id_seq') AS tx, row_number() OVER () AS n
                FROM unnest($3::text[], $8::bigint[]) AS runs(r, seq)),
       fence AS (INSERT INTO photo_charge (run_sequence, photo_id, credits, usage_transaction_id)
                 SELECT seq, p, 1, tx FROM runs, unnest($6::text[]) AS p RETURNING 1),
       usages AS (INSERT INTO credit_transaction (id, org_id, type, usage_type, credits, event_id, balance_after,
                                                  idempotency_key, request_fingerprint, reference)
                  SELECT tx, $1, 'USAGE', 'PHOTO_PROCESSING', -$7::int, $2, (SELECT balance_credits FROM org) + $4 - n * $7,
                         'capture:' || r, 'floor', r FROM runs RETURNING 1),
       movements AS (INSERT INTO lot_movement (lot_id, transaction_id, credits) SELECT $5, tx, -$7::int FROM runs RETURNING 1),
       lots AS (UPDATE credit_lot SET remaining_credits = remaining_credits - $4 WHERE id = $5 RETURNING 1),
       completed AS (UPDATE usage_run u SET status = 'COMPLETED', completed_at = now(), updated_at = now()
                     WHERE u.sequence = ANY ($8::bigint[]) RETURNING 1)
       SELECT (SELECT count(*) FROM fence) + (SELECT count(*) FROM usages) + (SELECT count(*) FROM movements)
            + (SELECT count(*) FROM lots) + (SELECT count(*) FROM completed) AS written`,
      [org.id, event.id, runIds, runsPerStatement * photos.length, lot!.id, photos, photos.length, runIds.map((runId) => sequences.get(runId))],
    );
  };

  const cpuBefore = readCpu();
  const started = performance.now();
  for (let first = 0; first < options.runs; first += 2 * runsPerStatement) {
    await Promise.all([write(first), write(first + runsPerStatement)]);
  }
  const seconds = (performance.now() - started) / 1000;
  const runs = Math.ceil(options.runs / (2 * runsPerStatement)) * 2 * runsPerStatement;
  const totalPhotos = runs * photos.length;
  return { photosPerSecond: totalPhotos / seconds, cpu: cpuPerItem(cpuBefore, readCpu(), totalPhotos) };
}
