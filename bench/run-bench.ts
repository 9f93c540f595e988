/**
 * npm run bench [-- --quick]: prints each figure beside this machine's own
 * limit measured in the same run, and writes bench/results.json.
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import pg from "pg";
import { loadConfig } from "../core/config.js";
import { runCommand } from "../core/run-command.js";
import { AppError } from "../core/errors.js";
import { createDatabase } from "../prisma/database.js";
import { migrateDatabase } from "../prisma/migrate.js";
import { formatTable } from "../demo/print-table.js";
import type { BenchFigure } from "./bench-figure.js";
import { runLedgerBench } from "./ledger-bench.js";
import { runMeteringBench } from "./metering-bench.js";
import { runStatementsBench } from "./statements-bench.js";
import { queueSettings } from "../workers/metering-queues.js";

runCommand(async () => {
  const { values } = (() => {
    try {
      return parseArgs({ options: { quick: { type: "boolean", default: false } } });
    } catch (error) {
      throw new AppError("INVALID_INPUT", `invalid bench arguments: ${(error as Error).message}; use --quick or nothing`);
    }
  })();
  const durationMs = values.quick ? 2_000 : 10_000;
  const config = loadConfig();

  // The benchmark gets a database of its own, made afresh, so it never touches the demo's data.
  const url = new URL(config.DATABASE_URL);
  const adminUrl = new URL(url);
  adminUrl.pathname = "/postgres";
  url.pathname = "/credits_bench";
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query("DROP DATABASE IF EXISTS credits_bench WITH (FORCE)");
  await admin.end();
  await migrateDatabase(url.toString());

  const db = createDatabase({ url: url.toString(), poolSize: 32 });
  const figures: BenchFigure[] = [];
  const log = (line: string) => console.log(`  ${line}`);
  try {
    console.log(`ledger (${durationMs / 1000} s per measurement)`);
    figures.push(...(await runLedgerBench(db, { durationMs, log })));
    console.log("metering (through real workers and queues)");
    figures.push(...(await runMeteringBench(db, { ...queueSettings(config), prefix: `${config.QUEUE_PREFIX}-bench` }, { quick: values.quick, log })));
    const orgs = values.quick ? 1_000 : 10_000;
    console.log(`statements (${orgs} orgs)`);
    figures.push(...(await runStatementsBench(db, { ...queueSettings(config), prefix: `${config.QUEUE_PREFIX}-bench-statements` }, { orgs, databaseUrl: url.toString(), quick: values.quick, log })));
  } finally {
    await db.close();
  }

  console.log(`\n${formatTable(figures.map((f) => ({ figure: f.name, value: `${f.value} ${f.unit}`, baseline: `${f.baselineValue} (${f.baseline})`, ratio: f.baselineValue ? f.ratio : "" })))}`);
  await writeFile(new URL("./results.json", import.meta.url), `${JSON.stringify(figures, null, 2)}\n`);
  console.log("\nwritten to bench/results.json");
});
