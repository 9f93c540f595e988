import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Worker } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailer } from "../core/mailer.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { createTestQueues, type TestQueues } from "../test/test-queues.js";
import { makeOrg } from "../test/factories.js";
import { quietLogger } from "../test/metering-harness.js";
import { startSmtpCapture, type SmtpCapture } from "../test/smtp-capture.js";
import { waitFor } from "../test/wait-for.js";
import { enqueueDueStatements } from "../scheduler/enqueue-due-statements.js";
import { startStatementDeliveryWorker } from "../workers/statement-delivery-worker.js";
import { createStatementQueue } from "./statement-queue.js";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));
let db: TestDatabase;
let queues: TestQueues;
let smtp: SmtpCapture;
const children: ChildProcess[] = [];
let worker: Worker | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
  queues = createTestQueues();
  smtp = await startSmtpCapture();
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await worker?.close();
  await smtp.close();
  await queues.cleanUp();
  await db.drop();
});

async function orgIn(timeZone: string, createdAt = "2026-10-01T12:00:00Z") {
  const made = await makeOrg(db, { timeZone, name: `Studio in ${timeZone}` });
  await db.pool.query("UPDATE organisation SET created_at = $2 WHERE id = $1", [made.org.id, createdAt]);
  return made;
}

describe("monthly statements schedule", () => {
  it("each org's statement falls due at 06:00 on the 1st in its own zone, once however often the tick fires, and catches up", async () => {
    const tokyo = await orgIn("Asia/Tokyo");
    const newYork = await orgIn("America/New_York");
    const newcomer = await orgIn("Europe/Berlin", "2026-11-02T10:00:00Z");
    const queue = createStatementQueue({ ...queues, prefix: `${queues.prefix}-due` });
    const tick = (now: string) => enqueueDueStatements({ db, queue, logger: quietLogger },
      { now: new Date(now), sendAt: "06:00", messageDomain: "credits.test", attempts: 3, backoffMs: 100 });
    const months = async () => (await db.prisma.statement.findMany({ select: { orgId: true, month: true } }))
      .map((s) => `${s.orgId === tokyo.org.id ? "tokyo" : s.orgId === newYork.org.id ? "new-york" : "other"} ${s.month}`).sort();

    await tick("2026-10-31T20:00:00Z"); // Tokyo: 05:00 on 1 November, New York: still October
    expect(await months()).toEqual([]);
    await tick("2026-10-31T21:30:00Z"); // Tokyo: 06:30 on 1 November
    expect(await months()).toEqual(["tokyo 2026-10"]);
    await tick("2026-11-01T12:00:00Z"); // New York: 07:00 on 1 November
    await tick("2026-11-01T12:00:00Z"); // the same tick fired twice
    expect(await months()).toEqual(["new-york 2026-10", "tokyo 2026-10"]);
    await tick("2026-12-03T09:00:00Z"); // a scheduler down on 1 December catches up on the 3rd
    expect(await months()).toEqual(["new-york 2026-10", "new-york 2026-11", "other 2026-11", "tokyo 2026-10", "tokyo 2026-11"]);
    expect((await db.prisma.statement.findMany({ where: { orgId: newcomer.org.id } })).map((s) => s.month)).toEqual(["2026-11"]);
    expect(await queue.count()).toBe(5);
    await queue.obliterate({ force: true });
    await queue.close();
    await db.pool.query("DELETE FROM statement");
  });

  it("two scheduler processes and a cron firing every second: each org's admins get one statement", async () => {
    const orgs = [await orgIn("Europe/Berlin"), await orgIn("Asia/Tokyo"), await orgIn("America/Los_Angeles")];
    worker = startStatementDeliveryWorker({
      db, logger: quietLogger, queues, seller: { name: "Credits Platform Ltd", addressLines: [], taxId: "IE1" },
      mailer: createMailer({ SMTP_URL: smtp.url, OUTBOX_DIR: "var/test-outbox", MAIL_FROM: "Credits <statements@credits.test>" }),
    });
    const env = { ...process.env, DATABASE_URL: db.url, QUEUE_PREFIX: queues.prefix, LOG_LEVEL: "silent", STATEMENT_CRON: "* * * * * *", STATEMENT_SEND_AT: "00:00" };
    for (let i = 0; i < 2; i++) children.push(spawn(process.execPath, ["--import", "tsx", "scheduler/main.ts"], { cwd: projectRoot, env, stdio: "ignore" }));
    await waitFor(async () => smtp.messages.length, (sent) => sent >= orgs.length, { what: "statements sent", timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // several more ticks from both schedulers
    for (const child of children) child.kill("SIGTERM");
    // Every org in the database gets its statement (the earlier test's too), each admin exactly one.
    const perRecipient = new Map<string, number>();
    for (const to of smtp.recipients.flat()) perRecipient.set(to, (perRecipient.get(to) ?? 0) + 1);
    for (const { admin } of orgs) expect(perRecipient.get(admin.email)).toBe(1);
    expect([...perRecipient.values()].every((n) => n === 1)).toBe(true);
    const statuses = await db.prisma.statement.findMany({ select: { status: true, attempts: true } });
    expect(statuses.length).toBe(smtp.messages.length);
    expect(statuses.every((s) => s.status === "SENT" && s.attempts === 1)).toBe(true);
  }, 60_000);
});
