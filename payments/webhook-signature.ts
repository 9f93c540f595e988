import { createHmac, timingSafeEqual } from "node:crypto";
import { AppError } from "../core/errors.js";

export const signatureHeader = "provider-signature";

/** "t=<unix seconds>,v1=<hex HMAC-SHA256 of `${t}.${body}`>" */
export function signWebhook(body: string, secret: string, at: Date = new Date()): string {
  const timestamp = Math.floor(at.getTime() / 1000);
  return `t=${timestamp},v1=${hmac(secret, `${timestamp}.${body}`)}`;
}

/** Refuses a body whose signature is not ours, or whose timestamp is outside the tolerance (a replay). */
export function verifyWebhook(body: string, header: string | undefined, secret: string, toleranceMs: number, now: Date = new Date()): void {
  const parts = Object.fromEntries((header ?? "").split(",").map((part) => part.split("=", 2) as [string, string]));
  const timestamp = Number(parts.t);
  const signature = parts.v1 ?? "";
  if (!Number.isInteger(timestamp) || !/^[0-9a-f]{64}$/.test(signature)) {
    throw new AppError("WEBHOOK_SIGNATURE_INVALID", "webhook signature header is missing or malformed");
  }
  const expected = Buffer.from(hmac(secret, `${timestamp}.${body}`), "hex");
  if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) {
    throw new AppError("WEBHOOK_SIGNATURE_INVALID", "webhook signature does not match");
  }
  if (Math.abs(now.getTime() - timestamp * 1000) > toleranceMs) {
    throw new AppError("WEBHOOK_TIMESTAMP_STALE", `webhook timestamp ${new Date(timestamp * 1000).toISOString()} is outside the ${toleranceMs / 1000} s tolerance`);
  }
}

function hmac(secret: string, text: string): string {
  return createHmac("sha256", secret).update(text).digest("hex");
}
