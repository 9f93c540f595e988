/** npm run api: the HTTP API on API_PORT (OpenAPI at /docs). Stops on SIGTERM/SIGINT after requests in flight. */
import { loadConfig } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { runCommand } from "../core/run-command.js";
import { stopOnSignals } from "../core/stop-on-signals.js";
import { createDatabase } from "../prisma/database.js";
import { startApi } from "./start-api.js";

runCommand(async () => {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: "api" });
  const db = createDatabase({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE });
  const api = await startApi(config, { db, logger }, { port: config.API_PORT, host: config.LISTEN_HOST });
  logger.info({ url: api.url, docs: `${api.url}/docs` }, "API listening");
  stopOnSignals(logger, [() => api.close(), () => db.close()], "stopping: finishing requests in flight");
});
