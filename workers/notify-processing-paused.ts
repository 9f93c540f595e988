import { z } from "zod";
import { escapeHtml } from "../core/escape-html.js";
import type { Mailer } from "../core/mailer.js";
import type { Logger } from "../core/logger.js";
import type { Database } from "../prisma/database.js";
import { orgId } from "../ledger/ledger-inputs.js";

export const processingPausedPayload = z.strictObject({ orgId, pausedAt: z.iso.datetime() });
export type ProcessingPausedPayload = z.output<typeof processingPausedPayload>;

/** One job per pause: the id is the org and the instant it paused. */
export function processingPausedJobId(payload: ProcessingPausedPayload): string {
  return `paused.${payload.orgId}.${Date.parse(payload.pausedAt)}`;
}

/** Tells the org's admins (not its operators) that processing paused for want of credits. */
export async function notifyProcessingPaused(
  deps: { db: Database; mailer: Mailer; logger: Logger },
  payload: ProcessingPausedPayload,
): Promise<{ recipients: number }> {
  const org = await deps.db.prisma.organisation.findUnique({
    where: { id: payload.orgId },
    select: { name: true, users: { where: { role: "ADMIN" }, select: { email: true, name: true } } },
  });
  if (!org || org.users.length === 0) {
    deps.logger.warn({ orgId: payload.orgId }, "processing paused but the organisation has no admin to tell");
    await markPauseNotified(deps.db, payload);
    return { recipients: 0 };
  }
  const text = [
    `Photo processing for ${org.name} is paused: the organisation has run out of credits.`,
    "",
    "Runs in progress and any new ones wait; nothing is lost and no photo is charged twice.",
    "Buy credits and processing resumes by itself where it stopped.",
  ].join("\n");
  await deps.mailer.send({
    to: org.users.map((user) => ({ name: user.name, address: user.email })),
    subject: `Processing paused for ${org.name}: out of credits`,
    text,
    html: `<p>Photo processing for <strong>${escapeHtml(org.name)}</strong> is paused: the organisation has run out of credits.</p>
<p>Runs in progress and any new ones wait; nothing is lost and no photo is charged twice.
Buy credits and processing resumes by itself where it stopped.</p>`,
  });
  await markPauseNotified(deps.db, payload);
  return { recipients: org.users.length };
}

async function markPauseNotified(db: Database, payload: ProcessingPausedPayload): Promise<void> {
  await db.pool.query("UPDATE organisation SET pause_notified_at = paused_at WHERE id = $1 AND paused_at = $2", [payload.orgId, payload.pausedAt]);
}
