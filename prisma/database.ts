import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "../generated/prisma/client.js";

export { Prisma } from "../generated/prisma/client.js";
export type { PrismaClient };

/**
 * One pool per process, shared by Prisma (model, ordinary queries) and the
 * ledger's single-statement SQL calls on the hot path.
 */
export interface Database {
  readonly prisma: PrismaClient;
  readonly pool: pg.Pool;
  close(): Promise<void>;
}

export function createDatabase(options: { url: string; poolSize?: number }): Database {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    // Our statements are short; JIT compilation (hundreds of ms) only ever
    // kicks in when the planner overestimates one, e.g. a generate_series.
    options: "-c jit=off",
  });
  // An idle client that loses its server must not take the process down.
  pool.on("error", () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  return {
    prisma,
    pool,
    async close() {
      await prisma.$disconnect();
      await pool.end().catch(() => {});
    },
  };
}
