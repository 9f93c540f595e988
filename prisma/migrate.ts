import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ensureDatabase } from "./ensure-database.js";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));
const prismaCli = fileURLToPath(new URL("../node_modules/prisma/build/index.js", import.meta.url));
const finished = /All migrations have been successfully applied|No pending migrations to apply/;

/**
 * Creates the database if needed and applies prisma/migrations with `prisma
 * migrate deploy`. The CLI never releases its driver-adapter connection, so it
 * lingers about 10 s after its work; once it has said it is done (each
 * migration is recorded as it is applied), it is stopped instead of waited for.
 */
export async function migrateDatabase(url: string): Promise<void> {
  await ensureDatabase(url);
  const cli = spawn(process.execPath, [prismaCli, "migrate", "deploy"], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: url },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    let done = false;
    const collect = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (!done && finished.test(output)) {
        done = true;
        cli.kill("SIGTERM");
        resolve();
      }
    };
    cli.stdout.on("data", collect);
    cli.stderr.on("data", collect);
    cli.once("error", reject);
    cli.once("exit", (code) => {
      if (done) return;
      if (code === 0) resolve();
      else reject(new Error(`prisma migrate deploy failed (exit ${code}):\n${output}`));
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { loadConfig } = await import("../core/config.js");
  const { runCommand } = await import("../core/run-command.js");
  runCommand(async () => {
    const url = loadConfig().DATABASE_URL;
    await migrateDatabase(url);
    console.log(`migrations applied to ${new URL(url).pathname.slice(1)}`);
  });
}
