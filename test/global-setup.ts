import pg from "pg";
import type { TestProject } from "vitest/node";
import { loadConfig } from "../core/config.js";
import { migrateDatabase } from "../prisma/migrate.js";

declare module "vitest" {
  export interface ProvidedContext {
    templateDatabaseUrl: string;
    testRunId: string;
  }
}

/**
 * Migrates one template database per run; each test file clones it
 * (CREATE DATABASE ... TEMPLATE), which is much faster than migrating.
 */
export default async function setup(project: TestProject) {
  const runId = `${process.pid}`;
  const templateName = `credits_test_${runId}_template`;
  const url = new URL(loadConfig().DATABASE_URL);
  url.pathname = `/${templateName}`;
  await migrateDatabase(url.toString());
  project.provide("templateDatabaseUrl", url.toString());
  project.provide("testRunId", runId);

  return async () => {
    const admin = new URL(url);
    admin.pathname = "/postgres";
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    const databases = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE $1",
      [`credits_test_${runId}_%`],
    );
    for (const { datname } of databases.rows) {
      await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    await client.end();
  };
}
