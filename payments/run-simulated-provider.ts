/**
 * npm run provider [-- --outcome succeed|fail|pending --webhook once|twice|late|never]
 * The simulated payment provider, on SIMULATED_PROVIDER_PORT, sending its
 * webhooks to this machine's webhook receiver (WEBHOOK_PORT).
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../core/config.js";
import { runCommand } from "../core/run-command.js";
import { parseInput } from "../core/validation.js";
import { providerScenario, SimulatedProviderServer } from "./simulated-provider-server.js";

runCommand(async () => {
  const config = loadConfig();
  const { values } = parseArgs({ options: { outcome: { type: "string" }, webhook: { type: "string" } } });
  const scenario = parseInput(providerScenario, { ...(values.outcome ? { outcome: values.outcome } : {}), ...(values.webhook ? { webhook: values.webhook } : {}) }, "scenario");
  const provider = new SimulatedProviderServer({
    webhookSecret: config.PAYMENT_WEBHOOK_SECRET, webhookUrl: config.PROVIDER_WEBHOOK_URL,
  });
  provider.setScenario(scenario);
  const url = await provider.listen(config.SIMULATED_PROVIDER_PORT, config.LISTEN_HOST);
  console.log(`simulated payment provider on ${url}, webhooks to ${config.PROVIDER_WEBHOOK_URL} (${JSON.stringify(scenario)})`);
  const stop = () => void provider.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
});
