import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { costPerCredit, currencyCode, timeZone } from "./organisation-inputs.js";

export const createOrganisationInput = z.strictObject({
  name: z.string().trim().min(1, { error: "must not be empty" }).max(200),
  currency: currencyCode,
  /** Null for custom billing: the org cannot buy credits itself. */
  costPerCredit: costPerCredit.nullable(),
  timeZone: timeZone,
});

export interface OrganisationRecord {
  id: string;
  name: string;
  currency: string;
  costPerCredit: string | null;
  timeZone: string;
}

export async function createOrganisation(
  db: Database,
  request: z.input<typeof createOrganisationInput>,
): Promise<OrganisationRecord> {
  const org = parseInput(createOrganisationInput, request, "organisation");
  const row = await db.prisma.organisation.create({ data: org });
  return { id: row.id, name: row.name, currency: row.currency, costPerCredit: row.costPerCredit?.toString() ?? null, timeZone: row.timeZone };
}
