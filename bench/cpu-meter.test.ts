import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { cpuPerItem, readCpu } from "./cpu-meter.js";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase({ poolSize: 2 });
});
afterAll(async () => {
  await db.drop();
});

describe("the bench's CPU meter", () => {
  it("sees this process and the PostgreSQL server spend CPU, and splits it per item", async () => {
    const before = readCpu();
    expect(before).not.toBeNull();
    // About 0.2 s of work for PostgreSQL, then some for this process.
    await db.pool.query("SELECT count(*) FROM generate_series(1, 3000000) AS g WHERE md5(g::text) LIKE 'a%'");
    let spin = 0;
    const until = performance.now() + 100;
    while (performance.now() < until) spin += Math.sqrt(spin + 1);
    const after = readCpu()!;
    expect(after.postgres - before!.postgres).toBeGreaterThan(0.05);
    expect(after.node - before!.node).toBeGreaterThan(0.05);
    expect(after.redis).toBeGreaterThanOrEqual(before!.redis);

    const perItem = cpuPerItem(before, after, 1000)!;
    expect(perItem.postgresUs).toBeCloseTo(((after.postgres - before!.postgres) * 1e6) / 1000, 0);
    expect(perItem.totalUs).toBeCloseTo(perItem.nodeUs + perItem.postgresUs + perItem.redisUs, 0);
    expect(cpuPerItem(null, after, 1000)).toBeNull();
  });
});
