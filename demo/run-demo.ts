/**
 * The main job: an end-to-end run of the pipeline on the local services.
 * Migrates the database, takes one organisation through the ledger, then
 * meters two organisations' processing runs through real workers; one runs
 * out, and its admin's purchase sticks in pending until rechecks settle it.
 */
import { loadConfig } from "../core/config.js";
import { runCommand } from "../core/run-command.js";
import { createDatabase } from "../prisma/database.js";
import { migrateDatabase } from "../prisma/migrate.js";
import { tourLedger } from "./ledger-tour.js";
import { tourMetering } from "./metering-tour.js";
import { startPaymentsTour } from "./payments-tour.js";

runCommand(async () => {
  const config = loadConfig();
  await migrateDatabase(config.DATABASE_URL);
  const db = createDatabase({ url: config.DATABASE_URL, poolSize: 8 });
  try {
    await tourLedger(db, config);
    const payments = await startPaymentsTour(db, config);
    try {
      await tourMetering(db, config, {
        topUp: (orgId, adminId, credits) => payments.buyThroughStuckPayment(orgId, adminId, credits),
      });
    } finally {
      await payments.close();
    }
  } finally {
    await db.close();
  }
});
