/**
 * npm run tokens -- <command>
 *   create --user <uuid> [--label <text>]                  a token for an org's admin or operator
 *   create --staff-email <email> --staff-name <name> [--label <text>]   a staff token (the staff member is made if new)
 *   revoke --token <token id>
 *   list (--org <uuid> | --staff)
 * A token is printed once, at creation; only its hash is stored.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { loadConfig } from "../core/config.js";
import { AppError } from "../core/errors.js";
import { runCommand } from "../core/run-command.js";
import { parseInput } from "../core/validation.js";
import { formatTable } from "../demo/print-table.js";
import { createDatabase } from "../prisma/database.js";
import { issueApiToken, listApiTokens, revokeApiToken } from "./api-tokens.js";
import { createStaffMember } from "./create-staff-member.js";

runCommand(async () => {
  const [command, ...rest] = process.argv.slice(2);
  const { values } = (() => {
    try {
      return parseArgs({
        args: rest,
        options: {
          user: { type: "string" }, "staff-email": { type: "string" }, "staff-name": { type: "string" }, label: { type: "string" },
          token: { type: "string" }, org: { type: "string" }, staff: { type: "boolean" },
        },
      });
    } catch (error) {
      throw new AppError("INVALID_INPUT", `invalid arguments: ${(error as Error).message}`);
    }
  })();
  const config = loadConfig();
  const db = createDatabase({ url: config.DATABASE_URL, poolSize: 2 });
  try {
    if (command === "create") {
      const issued = values.user !== undefined
        ? await issueApiToken(db, { userId: values.user, label: values.label })
        : values["staff-email"] !== undefined
          ? await issueApiToken(db, {
              staffMemberId: (await createStaffMember(db, { email: values["staff-email"], name: values["staff-name"] ?? "" })).id,
              label: values.label,
            })
          : (() => { throw new AppError("INVALID_INPUT", "create takes --user <uuid>, or --staff-email <email> --staff-name <name>"); })();
      console.log(`token id: ${issued.id}`);
      console.log(`token:    ${issued.token}`);
      console.log("Keep the token now: it is not stored and cannot be shown again.");
    } else if (command === "revoke") {
      const { revokedAt } = await revokeApiToken(db, values.token ?? "");
      console.log(`revoked at ${revokedAt.toISOString()}`);
    } else if (command === "list") {
      if ((values.org === undefined) === (values.staff !== true)) throw new AppError("INVALID_INPUT", "list takes exactly one of --org <uuid> or --staff");
      const orgId = values.org === undefined ? null : parseInput(z.uuid({ error: "must be an organisation id (UUID)" }), values.org, "--org");
      console.log(formatTable((await listApiTokens(db, orgId)).map((t) => ({
        id: t.id, token: `${t.tokenPrefix}…`, label: t.label, owner: t.owner, role: t.role,
        created: t.createdAt.toISOString(), lastUsed: t.lastUsedAt?.toISOString() ?? "", revoked: t.revokedAt?.toISOString() ?? "",
      }))));
    } else {
      throw new AppError("INVALID_INPUT", `unknown command "${command ?? ""}": use create, revoke or list`);
    }
  } finally {
    await db.close();
  }
});
