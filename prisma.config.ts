import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

// Migrations go through the Wasm schema engine and the pg driver adapter,
// because the Rust engines cannot be downloaded on our machines
// (see shared/notes/prisma-offline.md). The CLI needs DATABASE_URL to read the
// generator settings at all, hence the default.
process.env.DATABASE_URL ??= "postgresql://postgres@127.0.0.1:5432/credits";

type Adapter = Awaited<ReturnType<PrismaPg["connect"]>>;

// adapter-pg splits a migration script on every ";", which cuts PL/pgSQL
// bodies apart. PostgreSQL's simple query protocol takes the whole script in
// one message and runs it as one implicit transaction, so send it whole.
class PrismaPgWholeScripts extends PrismaPg {
  override async connect(): Promise<Adapter> {
    const adapter = await super.connect();
    const driver = adapter.underlyingDriver();
    adapter.executeScript = async (script: string) => {
      await driver.query(script);
    };
    return adapter;
  }
}

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "prisma/schema.prisma",
  async adapter() {
    return new PrismaPgWholeScripts({ connectionString: process.env.DATABASE_URL! });
  },
});
