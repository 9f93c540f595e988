import { expect, it } from "vitest";
import { isAppError } from "./errors.js";
import { loadConfig } from "./config.js";

it("works on a fresh machine with no environment at all", () => {
  expect(loadConfig({})).toMatchObject({
    DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/credits",
    REDIS_URL: "redis://127.0.0.1:6379",
    SMTP_URL: undefined,
    RESERVATION_TTL_MS: 600_000,
  });
});

it("names each bad variable and its rule", () => {
  const error = (() => { try { loadConfig({ DATABASE_URL: "mysql://x", RESERVATION_TTL_MS: "-3", LOG_LEVEL: "loud" }); } catch (e) { return e; } })();
  expect(isAppError(error, "CONFIG_INVALID")).toBe(true);
  expect((error as Error).message).toMatch(/DATABASE_URL: must be a postgresql:\/\/ URL/);
  expect((error as Error).message).toMatch(/RESERVATION_TTL_MS: /);
  expect((error as Error).message).toMatch(/LOG_LEVEL: /);
});

it("treats an empty variable as unset", () => {
  expect(loadConfig({ SMTP_URL: "" }).SMTP_URL).toBeUndefined();
});
