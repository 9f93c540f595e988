import { z } from "zod";
import { AppError } from "../core/errors.js";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import * as input from "./ledger-inputs.js";

export const monthKey = z.string().regex(/^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$/, { error: "must be a month as YYYY-MM, from 1900 on" });

export interface OrgMonth {
  startsAt: Date;
  endsAt: Date;
  timeZone: string;
  /** The org itself, read in the same query. */
  org: { name: string; currency: string; costPerCredit: string | null };
}

export interface OrgMonthRow {
  org_time_zone: string; org_month_starts_at: Date; org_month_ends_at: Date; org_name: string; org_currency: string; org_cost_per_credit: string | null;
}

/**
 * The select list of an org's month, for a query that reads the organisation
 * as `o` and has the month (YYYY-MM) as parameter `monthParameter`; `toOrgMonth`
 * reads it back. Lets a query that needs the org anyway (a statement's claim)
 * save the round trip.
 */
export function orgMonthColumns(monthParameter: string): string {
  return `o.time_zone AS org_time_zone,
          (${monthParameter} || '-01')::timestamp AT TIME ZONE o.time_zone AS org_month_starts_at,
          ((${monthParameter} || '-01')::timestamp + interval '1 month') AT TIME ZONE o.time_zone AS org_month_ends_at,
          o.name AS org_name, o.currency AS org_currency, o.cost_per_credit::text AS org_cost_per_credit`;
}

export function toOrgMonth(row: OrgMonthRow): OrgMonth {
  return {
    startsAt: row.org_month_starts_at, endsAt: row.org_month_ends_at, timeZone: row.org_time_zone,
    org: { name: row.org_name, currency: row.org_currency, costPerCredit: row.org_cost_per_credit },
  };
}

/** An org's month: from midnight on the 1st to midnight on the next 1st, in the org's time zone. */
export async function orgMonth(db: Database, orgId: string, month: string): Promise<OrgMonth> {
  const id = parseInput(input.orgId, orgId, "organisation id");
  const key = parseInput(monthKey, month, "month");
  const { rows } = await db.pool.query<OrgMonthRow>(`SELECT ${orgMonthColumns("$2")} FROM organisation o WHERE o.id = $1`, [id, key]);
  const row = rows[0];
  if (!row) throw new AppError("ORG_NOT_FOUND", `organisation ${id} not found`);
  return toOrgMonth(row);
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
