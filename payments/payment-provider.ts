/** A card processor's payment intents, as far as we use them. */
export type IntentStatus = "pending" | "succeeded" | "failed";

export interface PaymentIntent {
  intentId: string;
  status: IntentStatus;
  failureReason?: string;
}

export interface PaymentProvider {
  /** Idempotent by key: the same key always answers with the same intent. */
  createIntent(request: { idempotencyKey: string; amountMinor: bigint; currency: string; paymentId: string }): Promise<PaymentIntent>;
  getIntent(intentId: string): Promise<PaymentIntent>;
}
