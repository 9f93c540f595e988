import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { orgId } from "../ledger/ledger-inputs.js";

export const createUserInput = z.strictObject({
  orgId,
  email: z.email({ error: "must be an email address" }),
  name: z.string().trim().min(1, { error: "must not be empty" }).max(200),
  role: z.enum(["ADMIN", "OPERATOR"], { error: "must be ADMIN or OPERATOR" }),
});

export async function createUser(db: Database, request: z.input<typeof createUserInput>) {
  const user = parseInput(createUserInput, request, "user");
  return db.prisma.user.create({ data: user });
}
