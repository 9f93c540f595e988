import type { Config } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { issueApiToken } from "../api/api-tokens.js";
import { createStaffMember } from "../api/create-staff-member.js";
import { startApi } from "../api/start-api.js";
import { createUser } from "../organisations/create-user.js";
import type { Database } from "../prisma/database.js";
import { formatTable } from "./print-table.js";

/**
 * Part 5: the HTTP API over the demo's data. Tokens for one org's admin and
 * operator (and a staff member) are issued and used for real requests, then
 * printed with the commands to try them against `npm run api`.
 */
export async function tourApi(db: Database, config: Config, orgIds: string[]): Promise<void> {
  const { rows } = await db.pool.query<{ org_id: string; name: string; admin_id: string }>(
    `SELECT o.id AS org_id, o.name, (SELECT id FROM app_user WHERE org_id = o.id AND role = 'ADMIN' ORDER BY created_at LIMIT 1) AS admin_id
     FROM organisation o WHERE o.id = ANY($1)
     ORDER BY (SELECT count(*) FROM invoice WHERE org_id = o.id) DESC, o.created_at LIMIT 1`,
    [orgIds],
  );
  const org = rows[0]!;
  const operator = await createUser(db, { orgId: org.org_id, email: `operator+${Date.now()}@demo.example`, name: "Demo Operator", role: "OPERATOR" });
  const staff = await createStaffMember(db, { email: "ops@platform.example", name: "Platform Ops" });
  const tokens = {
    admin: (await issueApiToken(db, { userId: org.admin_id, label: "demo admin" })).token,
    operator: (await issueApiToken(db, { userId: operator.id, label: "demo operator" })).token,
    staff: (await issueApiToken(db, { staffMemberId: staff.id, label: "demo staff" })).token,
  };

  const api = await startApi(config, { db, logger: createLogger({ level: "warn", name: "demo-api" }) }, { port: 0, host: "127.0.0.1" });
  try {
    const get = async (token: string, path: string) => {
      const response = await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };
    const credits = await get(tokens.operator, `/v1/orgs/${org.org_id}/credits?include=costPerCredit`);
    const months = await get(tokens.operator, `/v1/orgs/${org.org_id}/usage/monthly`);
    const invoices = await get(tokens.operator, `/v1/orgs/${org.org_id}/invoices`);
    const adminInvoices = await get(tokens.admin, `/v1/orgs/${org.org_id}/invoices`);
    console.log(`\nThe API over ${org.name}'s books (requests made just now, at ${api.url}):`);
    console.log(formatTable([
      { request: "GET credits (operator)", status: credits.status, answer: `${credits.body.availableCredits} available, ${credits.body.processingState}, ${credits.body.costPerCredit?.amount ?? "custom"} ${credits.body.costPerCredit?.currency ?? ""}/credit` },
      { request: "GET usage/monthly (operator)", status: months.status, answer: `${months.body.months[0].month}: ${months.body.months[0].creditsUsed} used, ${months.body.months[0].creditsAdded} added` },
      { request: "GET invoices (operator)", status: invoices.status, answer: invoices.body.error?.code ?? "" },
      { request: "GET invoices (admin)", status: adminInvoices.status, answer: `${adminInvoices.body.items?.length ?? 0} invoice(s)` },
    ]));
  } finally {
    await api.close();
  }

  console.log(`
API tokens, shown once (only their hashes are stored; revoke with npm run tokens -- revoke --token <id>):
  export API=http://127.0.0.1:${config.API_PORT} ORG=${org.org_id}
  export ADMIN_TOKEN=${tokens.admin}
  export OPERATOR_TOKEN=${tokens.operator}
  export STAFF_TOKEN=${tokens.staff}
Serve the API with \`npm run api\` (OpenAPI at $API/docs), then for example:
  curl -s -H "authorization: Bearer $OPERATOR_TOKEN" "$API/v1/orgs/$ORG/credits?include=costPerCredit"`);
}
