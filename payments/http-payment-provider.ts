import { z } from "zod";
import { AppError } from "../core/errors.js";
import type { PaymentIntent, PaymentProvider } from "./payment-provider.js";

const intentResponse = z.object({
  id: z.string().min(1),
  status: z.enum(["pending", "succeeded", "failed"]),
  failureReason: z.string().optional(),
});

/** The provider's payment-intents API over HTTP; failures to reach it are retryable errors. */
export class HttpPaymentProvider implements PaymentProvider {
  constructor(private readonly options: { baseUrl: string; timeoutMs: number }) {}

  createIntent(request: { idempotencyKey: string; amountMinor: bigint; currency: string; paymentId: string }): Promise<PaymentIntent> {
    return this.call("POST", "/v1/payment_intents", {
      headers: { "idempotency-key": request.idempotencyKey, "content-type": "application/json" },
      body: JSON.stringify({ amountMinor: request.amountMinor.toString(), currency: request.currency, paymentId: request.paymentId }),
    });
  }

  getIntent(intentId: string): Promise<PaymentIntent> {
    return this.call("GET", `/v1/payment_intents/${encodeURIComponent(intentId)}`, {});
  }

  private async call(method: string, path: string, init: { headers?: Record<string, string>; body?: string }): Promise<PaymentIntent> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.options.baseUrl), { method, ...init, signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (error) {
      const reason = (error as Error).name === "TimeoutError" ? `no answer within ${this.options.timeoutMs} ms` : (error as Error).message;
      throw new AppError("PROVIDER_UNAVAILABLE", `payment provider ${method} ${path}: ${reason}`, { cause: error });
    }
    const text = await response.text();
    if (response.status >= 500) throw new AppError("PROVIDER_UNAVAILABLE", `payment provider ${method} ${path} answered ${response.status}`);
    if (!response.ok) throw new AppError("PROVIDER_REJECTED", `payment provider ${method} ${path} answered ${response.status}: ${text.slice(0, 200)}`);
    const parsed = intentResponse.safeParse(JSON.parse(text));
    if (!parsed.success) throw new AppError("PROVIDER_UNAVAILABLE", `payment provider ${method} ${path} answered something unexpected`);
    return { intentId: parsed.data.id, status: parsed.data.status, ...(parsed.data.failureReason ? { failureReason: parsed.data.failureReason } : {}) };
  }
}
