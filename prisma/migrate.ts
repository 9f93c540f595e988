import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ensureDatabase } from "./ensure-database.js";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));
const prismaCli = fileURLToPath(new URL("../node_modules/prisma/build/index.js", import.meta.url));

/** Creates the database if needed and applies prisma/migrations with `prisma migrate deploy`. */
export async function migrateDatabase(url: string): Promise<void> {
  await ensureDatabase(url);
  await promisify(execFile)(process.execPath, [prismaCli, "migrate", "deploy"], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: url },
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
