import { readFileSync, readdirSync } from "node:fs";
import { expect, it } from "vitest";
import { AppError, errorCatalogue } from "./errors.js";
import { ledgerSqlStates } from "../ledger/ledger-error.js";

const migrationsDir = new URL("../prisma/migrations/", import.meta.url);
const migrationsSql = readdirSync(migrationsDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => readFileSync(new URL(`${entry.name}/migration.sql`, migrationsDir), "utf8"))
  .join("\n");

it("every SQLSTATE the ledger functions raise maps to a catalogued code, and every mapping is raised", () => {
  const raised = new Set([...migrationsSql.matchAll(/ERRCODE = '(CR\d{3})'/g)].map((match) => match[1]!));
  expect([...raised].sort()).toEqual(Object.keys(ledgerSqlStates).sort());
  for (const code of Object.values(ledgerSqlStates)) expect(errorCatalogue).toHaveProperty(code);
});

it("errors carry their code and whether a retry can help", () => {
  const error = new AppError("DATABASE_CONFLICT", "serialization failure", { details: { orgId: "o" } });
  expect(error).toMatchObject({ code: "DATABASE_CONFLICT", retryable: true, details: { orgId: "o" } });
  expect(new AppError("INVALID_INPUT", "x").retryable).toBe(false);
});
