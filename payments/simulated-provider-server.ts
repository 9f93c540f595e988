import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import type { IntentStatus } from "./payment-provider.js";
import { signatureHeader, signWebhook } from "./webhook-signature.js";

/** How the simulated provider treats the intents created while it is in force. */
export const providerScenario = z.strictObject({
  outcome: z.enum(["succeed", "fail", "pending"]).default("succeed"),
  /** ok; error500: charge, then answer 500; timeout: charge, then never answer. */
  create: z.enum(["ok", "error500", "timeout"]).default("ok"),
  /** How the next status requests are answered, in turn; then ok. */
  status: z.array(z.enum(["ok", "error500", "timeout"])).default([]),
  webhook: z.enum(["once", "twice", "late", "never"]).default("once"),
  webhookDelayMs: z.number().int().min(0).max(600_000).default(2_000),
});
export type ProviderScenario = z.output<typeof providerScenario>;

interface SimulatedIntent {
  id: string;
  paymentId: string;
  amountMinor: string;
  currency: string;
  status: IntentStatus;
  failureReason?: string;
  scenario: ProviderScenario;
}

/**
 * A stand-in for a card processor's payment-intents API, over real HTTP: it
 * can succeed, fail, stay pending, time out, answer 500, and send its signed
 * webhooks once, twice, late or never.
 */
export class SimulatedProviderServer {
  readonly intents = new Map<string, SimulatedIntent>();
  private readonly byIdempotencyKey = new Map<string, string>();
  private scenario: ProviderScenario = providerScenario.parse({});
  private statusAnswers: ProviderScenario["status"] = [];
  private readonly server: Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly hanging = new Set<ServerResponse>();
  webhookUrl: string | undefined;

  constructor(private readonly options: { webhookSecret: string; webhookUrl?: string }) {
    this.webhookUrl = options.webhookUrl;
    this.server = createServer((request, response) => {
      this.route(request, response).catch((error: unknown) => {
        response.writeHead(500).end(JSON.stringify({ error: (error as Error).message }));
      });
    });
  }

  async listen(port = 0, host = "127.0.0.1"): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(port, host, resolve));
    return `http://${host}:${(this.server.address() as AddressInfo).port}`;
  }

  setScenario(scenario: z.input<typeof providerScenario>): void {
    this.scenario = providerScenario.parse(scenario);
    this.statusAnswers = [...this.scenario.status];
  }

  /** Settles a pending intent, as the bank eventually does, and sends its webhook(s). */
  settle(intentId: string, outcome: "succeeded" | "failed"): void {
    const intent = this.intents.get(intentId);
    if (!intent || intent.status !== "pending") return;
    intent.status = outcome;
    if (outcome === "failed") intent.failureReason = "card declined";
    this.sendWebhooks(intent);
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const response of this.hanging) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://provider");
    const body = await readBody(request);
    const intentPath = url.pathname.match(/^\/v1\/payment_intents\/([^/]+)$/);
    const controlPath = url.pathname.match(/^\/_control\/payment_intents\/([^/]+)\/(succeed|fail)$/);
    if (request.method === "POST" && url.pathname === "/v1/payment_intents") return this.create(request, body, response);
    if (request.method === "GET" && intentPath) return this.status(intentPath[1]!, response);
    if (request.method === "POST" && url.pathname === "/_control/scenario") {
      this.setScenario(JSON.parse(body || "{}"));
      return void response.writeHead(204).end();
    }
    if (request.method === "POST" && controlPath) {
      this.settle(controlPath[1]!, controlPath[2] === "succeed" ? "succeeded" : "failed");
      return void response.writeHead(204).end();
    }
    response.writeHead(404).end();
  }

  private create(request: IncomingMessage, body: string, response: ServerResponse): void {
    const key = request.headers["idempotency-key"];
    const input = z.object({ amountMinor: z.string(), currency: z.string(), paymentId: z.string() }).safeParse(JSON.parse(body || "{}"));
    if (typeof key !== "string" || !input.success) return void response.writeHead(400).end(JSON.stringify({ error: "bad request" }));
    const known = this.byIdempotencyKey.get(key);
    if (known) return this.answer(response, this.intents.get(known)!);
    const scenario = this.scenario;
    const intent: SimulatedIntent = {
      id: `pi_${randomUUID().replace(/-/g, "")}`, ...input.data,
      status: scenario.outcome === "succeed" ? "succeeded" : scenario.outcome === "fail" ? "failed" : "pending",
      ...(scenario.outcome === "fail" ? { failureReason: "card declined" } : {}),
      scenario,
    };
    this.intents.set(intent.id, intent);
    this.byIdempotencyKey.set(key, intent.id);
    if (intent.status !== "pending") this.sendWebhooks(intent);
    if (scenario.create === "error500") return void response.writeHead(500).end(JSON.stringify({ error: "internal error" }));
    if (scenario.create === "timeout") return void this.hanging.add(response);
    this.answer(response, intent);
  }

  private status(intentId: string, response: ServerResponse): void {
    const intent = this.intents.get(intentId);
    if (!intent) return void response.writeHead(404).end(JSON.stringify({ error: "no such intent" }));
    const answer = this.statusAnswers.shift() ?? "ok";
    if (answer === "error500") return void response.writeHead(500).end(JSON.stringify({ error: "internal error" }));
    if (answer === "timeout") return void this.hanging.add(response);
    this.answer(response, intent);
  }

  private answer(response: ServerResponse, intent: SimulatedIntent): void {
    response.writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ id: intent.id, status: intent.status, failureReason: intent.failureReason }));
  }

  private sendWebhooks(intent: SimulatedIntent): void {
    const { webhook, webhookDelayMs } = intent.scenario;
    if (webhook === "never" || !this.webhookUrl) return;
    const event = JSON.stringify({
      id: `evt_${intent.id}_${intent.status}`, type: `payment_intent.${intent.status}`, created: Math.floor(Date.now() / 1000),
      data: { intentId: intent.id, paymentId: intent.paymentId, status: intent.status, failureReason: intent.failureReason },
    });
    const deliveries = webhook === "twice" ? [0, 50] : webhook === "late" ? [webhookDelayMs] : [0];
    for (const delayMs of deliveries) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        void fetch(this.webhookUrl!, {
          method: "POST",
          headers: { "content-type": "application/json", [signatureHeader]: signWebhook(event, this.options.webhookSecret) },
          body: event,
        }).catch(() => {});
      }, delayMs);
      this.timers.add(timer);
    }
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
