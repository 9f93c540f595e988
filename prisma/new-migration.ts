/**
 * npm run db:new-migration -- <name>
 *
 * Authors prisma/migrations/<timestamp>_<name>/migration.sql from the diff
 * between the schema at git HEAD and the working schema. (`prisma migrate dev`
 * cannot be used: with the driver adapter its shadow database would be the
 * main one.) Add any SQL the schema cannot express below the generated part,
 * then apply it with `npm run db:migrate`.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { parseInput } from "../core/validation.js";
import { runCommand } from "../core/run-command.js";

runCommand(async () => {
  const name = parseInput(
    z.string({ error: "is required: npm run db:new-migration -- <name>" }).regex(/^[a-z0-9_]+$/, { error: "must be snake_case letters and digits" }),
    process.argv[2],
    "migration name",
  );
  const root = fileURLToPath(new URL("..", import.meta.url));
  const previous = "prisma/.schema-at-head.prisma";
  const prisma = (args: string[]) =>
    execFileSync(process.execPath, ["node_modules/prisma/build/index.js", ...args], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });

  let from = ["--from-empty"];
  try {
    writeFileSync(`${root}/${previous}`, execFileSync("git", ["show", "HEAD:prisma/schema.prisma"], { cwd: root, encoding: "utf8" }));
    from = ["--from-schema-datamodel", previous];
  } catch {
    // No committed schema yet: the first migration starts from nothing.
  }
  try {
    const sql = prisma(["migrate", "diff", ...from, "--to-schema-datamodel", "prisma/schema.prisma", "--script"]);
    if (!/\b(CREATE|ALTER|DROP)\b/.test(sql)) {
      console.log("schema.prisma has no changes against HEAD; no migration written");
    } else {
      const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
      const dir = `${root}/prisma/migrations/${stamp}_${name}`;
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}/migration.sql`, sql);
      console.log(`wrote prisma/migrations/${stamp}_${name}/migration.sql`);
    }
  } finally {
    rmSync(`${root}/${previous}`, { force: true });
  }
});
