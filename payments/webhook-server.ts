import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { errorCatalogue, isAppError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Database } from "../prisma/database.js";
import { handlePaymentWebhook } from "./handle-payment-webhook.js";
import { signatureHeader } from "./webhook-signature.js";

const maxBodyBytes = 64 * 1024;

/** POST /webhooks/payments: the provider's signed events, over HTTP. */
export function createWebhookServer(deps: { db: Database; logger: Logger; secret: string; toleranceMs: number }) {
  const server: Server = createServer(async (request, response) => {
    const reply = (status: number, body: unknown) =>
      response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (request.method !== "POST" || request.url !== "/webhooks/payments") return reply(404, { code: "NOT_FOUND", message: "no such route" });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request) {
      size += (chunk as Buffer).length;
      if (size > maxBodyBytes) return reply(413, { code: "INVALID_INPUT", message: `body larger than ${maxBodyBytes} bytes` });
      chunks.push(chunk as Buffer);
    }
    try {
      const header = request.headers[signatureHeader];
      const outcome = await handlePaymentWebhook(deps, Buffer.concat(chunks).toString("utf8"), Array.isArray(header) ? header[0] : header);
      reply(200, outcome);
    } catch (error) {
      if (isAppError(error)) {
        deps.logger.warn({ code: error.code, message: error.message }, "payment webhook refused");
        return reply(errorCatalogue[error.code].httpStatus, { code: error.code, message: error.message });
      }
      deps.logger.error({ err: error }, "payment webhook failed");
      reply(500, { code: "INTERNAL", message: "webhook could not be applied; the provider will retry" });
    }
  });
  return {
    async listen(port: number, host = "127.0.0.1"): Promise<string> {
      await new Promise<void>((resolve) => server.listen(port, host, resolve));
      return `http://${host}:${(server.address() as AddressInfo).port}/webhooks/payments`;
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
