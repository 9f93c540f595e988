import { Queue, type JobsOptions } from "bullmq";
import { z } from "zod";
import { monthKey } from "../ledger/org-month.js";
import { orgId } from "../ledger/ledger-inputs.js";
import type { QueueSettings } from "../workers/metering-queues.js";

export const statementQueueName = "statements";

export const statementPayload = z.strictObject({ orgId, month: monthKey });
export type StatementPayload = z.output<typeof statementPayload>;

export const statementJobId = (payload: StatementPayload) => `statement.${payload.orgId}.${payload.month}`;

export function statementJobOptions(attempts: number, backoffMs: number): JobsOptions {
  return { attempts, backoff: { type: "exponential", delay: backoffMs }, removeOnComplete: true, removeOnFail: { age: 30 * 24 * 3600 } };
}

export function createStatementQueue(settings: QueueSettings): Queue<StatementPayload> {
  return new Queue<StatementPayload>(statementQueueName, { connection: settings.connection, prefix: settings.prefix });
}
