import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";

export const staffMemberInput = z.strictObject({
  email: z.email({ error: "must be an email address" }),
  name: z.string().trim().min(1, { error: "must not be empty" }).max(200),
});

/** A member of the platform's staff, by email: made once, found afterwards. */
export async function createStaffMember(db: Database, request: z.input<typeof staffMemberInput>): Promise<{ id: string; name: string }> {
  const staff = parseInput(staffMemberInput, request, "staff member");
  const { rows } = await db.pool.query<{ id: string; name: string }>(
    `INSERT INTO staff_member (email, name) VALUES ($1, $2)
     ON CONFLICT (email) DO UPDATE SET name = staff_member.name RETURNING id, name`,
    [staff.email.toLowerCase(), staff.name],
  );
  return rows[0]!;
}
