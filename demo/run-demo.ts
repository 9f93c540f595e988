/**
 * The main job: an end-to-end run of the pipeline on the local services.
 * Migrates the database, takes one organisation through the ledger, then
 * meters two organisations' processing runs through real workers; one runs
 * out, and its admin's purchase sticks in pending until rechecks settle it;
 * then last month's statements delivered and this month's PDFs written; ends
 * with the HTTP API answering for one org, and tokens printed to try it.
 */
import { loadConfig } from "../core/config.js";
import { runCommand } from "../core/run-command.js";
import { createDatabase } from "../prisma/database.js";
import { migrateDatabase } from "../prisma/migrate.js";
import { tourLedger } from "./ledger-tour.js";
import { tourMetering } from "./metering-tour.js";
import { startPaymentsTour } from "./payments-tour.js";
import { tourStatements } from "./statements-tour.js";
import { tourApi } from "./api-tour.js";

runCommand(async () => {
  const config = loadConfig();
  await migrateDatabase(config.DATABASE_URL);
  const db = createDatabase({ url: config.DATABASE_URL, poolSize: 8 });
  try {
    const ledgerOrg = await tourLedger(db, config);
    const payments = await startPaymentsTour(db, config);
    let meteredOrgs: string[];
    try {
      meteredOrgs = await tourMetering(db, config, {
        topUp: (orgId, adminId, credits) => payments.buyThroughStuckPayment(orgId, adminId, credits),
      });
    } finally {
      await payments.close();
    }
    await tourStatements(db, config, [ledgerOrg, ...meteredOrgs]);
    await tourApi(db, config, [ledgerOrg, ...meteredOrgs]);
  } finally {
    await db.close();
  }
});
