import { Writable } from "node:stream";
import { loadConfig } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { issueApiToken } from "../api/api-tokens.js";
import { createStaffMember } from "../api/create-staff-member.js";
import { startApi } from "../api/start-api.js";
import { createUser } from "../organisations/create-user.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";
import { createTestQueues, type TestQueues } from "./test-queues.js";
import { makeOrg } from "./factories.js";
import { startPaymentsWorld } from "./payments-harness.js";

export type ApiWorld = Awaited<ReturnType<typeof startApiWorld>>;

/**
 * A real API server on a free port, over this file's own database and queues,
 * with the simulated payment provider, two orgs (each with an admin, an
 * operator and an event), a staff member, and a token for each of them.
 */
export async function startApiWorld(env: Record<string, string> = {}) {
  const db: TestDatabase = await createTestDatabase();
  const queues: TestQueues = createTestQueues();
  const payments = await startPaymentsWorld(db);
  const logLines: string[] = [];
  // The production logger, writing where the test can read it.
  const logger = createLogger({
    level: "info", name: "api-test",
    destination: new Writable({ write(chunk, _encoding, done) { logLines.push(String(chunk)); done(); } }),
  });
  const config = loadConfig({
    ...process.env, DATABASE_URL: db.url, QUEUE_PREFIX: queues.prefix, API_RATE_LIMIT_PER_MINUTE: "100000", API_FAILED_LOGINS_PER_MINUTE: "100000", API_TOKEN_CACHE_MS: "0",
    PAYMENT_STUCK_AFTER_MS: "1", ...env,
  });
  const api = await startApi(config, { db, logger, provider: payments.provider }, { port: 0, host: "127.0.0.1" });

  const orgA = await makeOrg(db, { name: "Northlight Photo", credits: 5_000 });
  const orgB = await makeOrg(db, { name: "Pixel Pine Studio", credits: 2_000 });
  const operatorA = await createUser(db, { orgId: orgA.org.id, email: "otto.operator@northlight.test", name: "Otto Operator", role: "OPERATOR" });
  const operatorB = await createUser(db, { orgId: orgB.org.id, email: "opal.operator@pixelpine.test", name: "Opal Operator", role: "OPERATOR" });
  const staff = await createStaffMember(db, { email: "sam@platform.test", name: "Sam Support" });
  const tokens = {
    adminA: (await issueApiToken(db, { userId: orgA.admin.id })).token,
    operatorA: (await issueApiToken(db, { userId: operatorA.id })).token,
    adminB: (await issueApiToken(db, { userId: orgB.admin.id })).token,
    operatorB: (await issueApiToken(db, { userId: operatorB.id })).token,
    staff: (await issueApiToken(db, { staffMemberId: staff.id })).token,
  };

  async function call(token: string | null, method: string, path: string, options: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...options.headers };
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    } else if (body !== undefined) {
      headers["content-type"] ??= "application/json";
    }
    const response = await fetch(`${api.url}${path}`, { method, headers, body });
    const type = response.headers.get("content-type") ?? "";
    const data = type.includes("json") ? await response.json() : type.includes("pdf") ? Buffer.from(await response.arrayBuffer()) : await response.text();
    return { status: response.status, headers: response.headers, data: data as any };
  }

  return {
    db, queues, payments, api, config, logLines, orgA, orgB, operatorA, operatorB, staff, tokens, call,
    async close() {
      await api.close();
      await payments.close();
      await queues.cleanUp();
      await db.drop();
    },
  };
}
