/**
 * Every error the product raises on purpose carries a stable code from this
 * catalogue, and says whether trying the same thing again can help.
 */
export const errorCatalogue = {
  INVALID_INPUT: { retryable: false, httpStatus: 422 },
  CONFIG_INVALID: { retryable: false, httpStatus: 500 },
  ORG_NOT_FOUND: { retryable: false, httpStatus: 404 },
  EVENT_NOT_FOUND: { retryable: false, httpStatus: 404 },
  USER_NOT_FOUND: { retryable: false, httpStatus: 404 },
  IDEMPOTENCY_CONFLICT: { retryable: false, httpStatus: 409 },
  RESERVATION_NOT_FOUND: { retryable: false, httpStatus: 404 },
  RESERVATION_NOT_HELD: { retryable: false, httpStatus: 409 },
  CAPTURE_EXCEEDS_RESERVATION: { retryable: false, httpStatus: 409 },
  USAGE_TRANSACTION_NOT_FOUND: { retryable: false, httpStatus: 404 },
  REFUND_EXCEEDS_USAGE: { retryable: false, httpStatus: 409 },
  USAGE_RUN_NOT_FOUND: { retryable: false, httpStatus: 404 },
  PHOTO_PROCESSOR_FAILED: { retryable: true, httpStatus: 502 },
  HOLD_LOST: { retryable: true, httpStatus: 409 },
  QUEUE_UNAVAILABLE: { retryable: true, httpStatus: 503 },
  /** A batch the set-based path does not take; its requests are then sent one by one. */
  LEDGER_BATCH_REFUSED: { retryable: true, httpStatus: 503 },
  LEDGER_APPEND_ONLY: { retryable: false, httpStatus: 500 },
  LEDGER_INVARIANT_BROKEN: { retryable: false, httpStatus: 500 },
  PERMISSION_DENIED: { retryable: false, httpStatus: 403 },
  /** No API token, or one that is unknown or revoked. */
  UNAUTHENTICATED: { retryable: false, httpStatus: 401 },
  RATE_LIMITED: { retryable: true, httpStatus: 429 },
  NOT_FOUND: { retryable: false, httpStatus: 404 },
  INVOICE_NOT_FOUND: { retryable: false, httpStatus: 404 },
  API_TOKEN_NOT_FOUND: { retryable: false, httpStatus: 404 },
  BODY_TOO_LARGE: { retryable: false, httpStatus: 413 },
  /** The request is not JSON, or not the media type the route takes. */
  MALFORMED_REQUEST: { retryable: false, httpStatus: 400 },
  CUSTOM_BILLING: { retryable: false, httpStatus: 409 },
  PAYMENT_NOT_FOUND: { retryable: false, httpStatus: 404 },
  PAYMENT_STILL_PENDING: { retryable: true, httpStatus: 409 },
  PROVIDER_UNAVAILABLE: { retryable: true, httpStatus: 502 },
  PROVIDER_REJECTED: { retryable: false, httpStatus: 502 },
  WEBHOOK_SIGNATURE_INVALID: { retryable: false, httpStatus: 401 },
  WEBHOOK_TIMESTAMP_STALE: { retryable: false, httpStatus: 401 },
  WEBHOOK_UNKNOWN_PAYMENT: { retryable: false, httpStatus: 404 },
  MAIL_UNAVAILABLE: { retryable: true, httpStatus: 503 },
  STATEMENT_REJECTED: { retryable: false, httpStatus: 502 },
  DATABASE_CONFLICT: { retryable: true, httpStatus: 503 },
  DATABASE_UNAVAILABLE: { retryable: true, httpStatus: 503 },
} as const satisfies Record<string, { retryable: boolean; httpStatus: number }>;

export type ErrorCode = keyof typeof errorCatalogue;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.retryable = errorCatalogue[code].retryable;
    this.details = options.details ?? {};
  }
}

export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}
