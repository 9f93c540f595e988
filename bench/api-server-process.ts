/** A bench helper: the real API, configured from the environment, in a process of its own. */
import { loadConfig } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { createDatabase } from "../prisma/database.js";
import { startApi } from "../api/start-api.js";

const config = loadConfig();
const db = createDatabase({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE });
const api = await startApi(config, { db, logger: createLogger({ level: config.LOG_LEVEL, name: "api" }) }, { port: 0, host: "127.0.0.1" });
process.send!({ url: api.url });
process.on("message", async () => {
  await api.close();
  await db.close();
  process.send!({ stopped: true }, () => process.exit(0));
});
