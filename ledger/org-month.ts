import { z } from "zod";
import { AppError } from "../core/errors.js";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import * as input from "./ledger-inputs.js";

export const monthKey = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, { error: "must be a month as YYYY-MM" });

export interface OrgMonth {
  startsAt: Date;
  endsAt: Date;
  timeZone: string;
  /** The org itself, read in the same query. */
  org: { name: string; currency: string; costPerCredit: string | null };
}

/** An org's month: from midnight on the 1st to midnight on the next 1st, in the org's time zone. */
export async function orgMonth(db: Database, orgId: string, month: string): Promise<OrgMonth> {
  const id = parseInput(input.orgId, orgId, "organisation id");
  const key = parseInput(monthKey, month, "month");
  const { rows } = await db.pool.query<{ time_zone: string; starts_at: Date; ends_at: Date; name: string; currency: string; cost_per_credit: string | null }>(
    `SELECT time_zone, ($2 || '-01')::timestamp AT TIME ZONE time_zone AS starts_at,
            (($2 || '-01')::timestamp + interval '1 month') AT TIME ZONE time_zone AS ends_at,
            name, currency, cost_per_credit::text
     FROM organisation WHERE id = $1`,
    [id, key],
  );
  const row = rows[0];
  if (!row) throw new AppError("ORG_NOT_FOUND", `organisation ${id} not found`);
  return {
    startsAt: row.starts_at, endsAt: row.ends_at, timeZone: row.time_zone,
    org: { name: row.name, currency: row.currency, costPerCredit: row.cost_per_credit },
  };
}

/** The month before the one the org is in at `at` (what a statement on the 1st covers). */
export async function previousOrgMonth(db: Database, orgId: string, at: Date = new Date()): Promise<string> {
  const { rows } = await db.pool.query<{ month: string }>(
    `SELECT to_char(date_trunc('month', $2::timestamptz AT TIME ZONE time_zone) - interval '1 month', 'YYYY-MM') AS month
     FROM organisation WHERE id = $1`,
    [orgId, at],
  );
  if (!rows[0]) throw new AppError("ORG_NOT_FOUND", `organisation ${orgId} not found`);
  return rows[0].month;
}
