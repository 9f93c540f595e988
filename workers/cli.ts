/**
 * npm run metering -- <command>
 *   enqueue --org <uuid> --event <id> --kind PHOTO_PROCESSING|AI_IMAGE_ROTATION
 *           (--photos a,b,c | --photo-count N) [--user <uuid>] [--run <run id>]
 *   health    queue counts: waiting, active, delayed, failed, parked
 *   parked    parked runs per organisation
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { z } from "zod";
import { loadConfig } from "../core/config.js";
import { AppError } from "../core/errors.js";
import { runCommand } from "../core/run-command.js";
import { parseInput } from "../core/validation.js";
import { formatTable } from "../demo/print-table.js";
import { createDatabase } from "../prisma/database.js";
import { enqueueUsageRun } from "./enqueue-usage-run.js";
import { createMeteringQueue, queueSettings } from "./metering-queues.js";
import { listParkedRuns, queueHealth } from "./queue-health.js";

const enqueueArguments = z
  .strictObject({
    org: z.string({ error: "is required" }),
    event: z.string({ error: "is required" }).regex(/^\d+$/, { error: "must be a numeric event id" }).transform(Number),
    kind: z.string({ error: "is required" }),
    photos: z.string().optional(),
    "photo-count": z.string().regex(/^\d+$/, { error: "must be a whole number" }).transform(Number).optional(),
    user: z.string().optional(),
    run: z.string().optional(),
  })
  .refine((args) => (args.photos === undefined) !== (args["photo-count"] === undefined), {
    error: "give either --photos or --photo-count",
  });

runCommand(async () => {
  const [command, ...rest] = process.argv.slice(2);
  const config = loadConfig();
  const db = createDatabase({ url: config.DATABASE_URL, poolSize: 2 });
  const queue = createMeteringQueue(queueSettings(config));
  try {
    if (command === "enqueue") {
      const { values } = (() => {
        try {
          return parseArgs({
            args: rest,
            options: {
              org: { type: "string" }, event: { type: "string" }, kind: { type: "string" }, photos: { type: "string" },
              "photo-count": { type: "string" }, user: { type: "string" }, run: { type: "string" },
            },
          });
        } catch (error) {
          throw new AppError("INVALID_INPUT", `invalid arguments: ${(error as Error).message}`);
        }
      })();
      const args = parseInput(enqueueArguments, values, "arguments");
      const runId = args.run ?? `cli-${randomUUID()}`;
      const photoIds = args.photos?.split(",") ?? Array.from({ length: args["photo-count"]! }, (_, i) => `${runId}-photo-${i + 1}`);
      const result = await enqueueUsageRun(
        { db, queue },
        { orgId: args.org, eventId: args.event, kind: args.kind, photoIds, userId: args.user ?? null, runId },
      );
      console.log(formatTable([{ ...result, photos: photoIds.length }]));
    } else if (command === "health") {
      console.log(formatTable([await queueHealth({ db, queue })]));
    } else if (command === "parked") {
      console.log(formatTable(await listParkedRuns(db)));
    } else {
      throw new AppError("INVALID_INPUT", `unknown command "${command ?? ""}": use enqueue, health or parked`);
    }
  } finally {
    await queue.close();
    await db.close();
  }
});
