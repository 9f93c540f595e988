/** npm run webhooks: receives the payment provider's signed webhooks on WEBHOOK_PORT. */
import { loadConfig } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { runCommand } from "../core/run-command.js";
import { stopOnSignals } from "../core/stop-on-signals.js";
import { createDatabase } from "../prisma/database.js";
import { createWebhookServer } from "./webhook-server.js";

runCommand(async () => {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: "webhooks" });
  const db = createDatabase({ url: config.DATABASE_URL, poolSize: 4 });
  const server = createWebhookServer({ db, logger, secret: config.PAYMENT_WEBHOOK_SECRET, toleranceMs: config.WEBHOOK_TOLERANCE_MS });
  logger.info({ url: await server.listen(config.WEBHOOK_PORT, config.LISTEN_HOST) }, "payment webhooks listening");
  stopOnSignals(logger, [() => server.close(), () => db.close()]);
});
