/**
 * npm run bench [-- --quick]: prints each figure beside this machine's own
 * limit measured in the same run, and writes bench/results.json.
 */
import { writeFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
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
import { runApiBench } from "./api-bench.js";
import { queueSettings } from "../workers/metering-queues.js";

runCommand(async () => {
  const { values } = (() => {
    try {
      return parseArgs({ options: { quick: { type: "boolean", default: false }, only: { type: "string", multiple: true } } });
    } catch (error) {
      throw new AppError("INVALID_INPUT", `invalid bench arguments: ${(error as Error).message}; use --quick and/or --only <section>`);
    }
  })();
  const sections = ["ledger", "metering", "statements", "api"] as const;
  const unknown = (values.only ?? []).filter((name) => !(sections as readonly string[]).includes(name));
  if (unknown.length > 0) throw new AppError("INVALID_INPUT", `--only must be one of ${sections.join(", ")}; got ${unknown.join(", ")}`);
  const runs = (section: (typeof sections)[number]) => !values.only || values.only.includes(section);
  const durationMs = values.quick ? 2_000 : 10_000;
  const config = loadConfig();

  // The benchmark gets a database of its own, named after the configured one and made afresh, so it never touches the demo's data.
  const url = new URL(config.DATABASE_URL);
  const adminUrl = new URL(url);
  adminUrl.pathname = "/postgres";
  const benchDatabase = `${url.pathname.slice(1)}_bench`;
  url.pathname = `/${benchDatabase}`;
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${benchDatabase}" WITH (FORCE)`);
  await admin.end();
  await migrateDatabase(url.toString());

  const db = createDatabase({ url: url.toString(), poolSize: 32 });
  const figures: BenchFigure[] = [];
  const log = (line: string) => console.log(`  ${line}`);
  const benchStarted = performance.now();
  const elapsed = () => `${((performance.now() - benchStarted) / 1000).toFixed(0)} s into the run`;
  try {
    if (runs("ledger")) {
      console.log(`ledger (${durationMs / 1000} s per measurement; ${elapsed()})`);
      figures.push(...(await runLedgerBench(db, { durationMs, log })));
    }
    if (runs("metering")) {
      console.log(`metering (through real workers and queues; ${elapsed()})`);
      figures.push(...(await runMeteringBench(db, { ...queueSettings(config), prefix: `${config.QUEUE_PREFIX}-bench` }, { quick: values.quick, log })));
    }
    if (runs("statements")) {
      const orgs = values.quick ? 1_000 : 10_000;
      console.log(`statements (${orgs} orgs; ${elapsed()})`);
      figures.push(...(await runStatementsBench(db, { ...queueSettings(config), prefix: `${config.QUEUE_PREFIX}-bench-statements` }, { orgs, databaseUrl: url.toString(), quick: values.quick, log })));
    }
    if (runs("api")) {
      console.log(`api (autocannon against the API in its own process; ${elapsed()})`);
      figures.push(...(await runApiBench(db, { databaseUrl: url.toString(), queuePrefix: `${config.QUEUE_PREFIX}-bench`, quick: values.quick, log })));
    }
  } finally {
    await db.close();
  }

  console.log(`\nall sections done, ${elapsed()}`);
  console.log(`\n${formatTable(figures.map((f) => ({ figure: f.name, value: `${f.value} ${f.unit}`, baseline: `${f.baselineValue} (${f.baseline})`, ratio: f.baselineValue ? f.ratio : "" })))}`);
  await writeFile(new URL("./results.json", import.meta.url), `${JSON.stringify(figures, null, 2)}\n`);
  console.log("\nwritten to bench/results.json");
});
