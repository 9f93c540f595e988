import { AppError, type ErrorCode } from "../core/errors.js";

/** SQLSTATEs raised by the ledger functions in prisma/migrations. */
export const ledgerSqlStates: Record<string, ErrorCode> = {
  CR001: "ORG_NOT_FOUND",
  CR002: "IDEMPOTENCY_CONFLICT",
  CR003: "RESERVATION_NOT_FOUND",
  CR004: "RESERVATION_NOT_HELD",
  CR005: "CAPTURE_EXCEEDS_RESERVATION",
  CR006: "USAGE_TRANSACTION_NOT_FOUND",
  CR007: "REFUND_EXCEEDS_USAGE",
  CR008: "USAGE_RUN_NOT_FOUND",
  CR010: "LEDGER_BATCH_REFUSED",
  CR020: "PAYMENT_NOT_FOUND",
  CR100: "LEDGER_APPEND_ONLY",
  CR900: "LEDGER_INVARIANT_BROKEN",
};

/** Foreign keys whose violation means the caller named something that is not in the org. */
const missingReferences: Record<string, { code: ErrorCode; describe: (context: LedgerCallContext) => string }> = {
  reservation_org_id_fkey: {
    code: "ORG_NOT_FOUND",
    describe: (c) => `organisation ${String(c.orgId)} not found`,
  },
  reservation_org_id_event_id_fkey: {
    code: "EVENT_NOT_FOUND",
    describe: (c) => `event ${String(c.eventId)} not found in organisation ${String(c.orgId)}`,
  },
  reservation_org_id_user_id_fkey: {
    code: "USER_NOT_FOUND",
    describe: (c) => `user ${String(c.userId)} not found in organisation ${String(c.orgId)}`,
  },
  usage_run_org_id_event_id_fkey: {
    code: "EVENT_NOT_FOUND",
    describe: (c) => `event ${String(c.eventId)} not found in organisation ${String(c.orgId)}`,
  },
  usage_run_user_fkey: {
    code: "USER_NOT_FOUND",
    describe: (c) => `user ${String(c.userId)} not found in organisation ${String(c.orgId)}`,
  },
  credit_transaction_org_id_user_id_fkey: {
    code: "USER_NOT_FOUND",
    describe: (c) => `user ${String(c.userId)} not found in organisation ${String(c.orgId)}`,
  },
};

export type LedgerCallContext = Record<string, unknown>;

interface PgError {
  code?: string;
  constraint?: string;
  message: string;
}

const unavailableCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "57P01", "57P02", "57P03", "53300"]);

export function toLedgerError(error: unknown, context: LedgerCallContext): unknown {
  if (error instanceof AppError || typeof error !== "object" || error === null) return error;
  const pgError = error as PgError;
  const code = pgError.code ?? "";
  const ledgerCode = ledgerSqlStates[code];
  if (ledgerCode) return new AppError(ledgerCode, pgError.message, { details: context, cause: error });
  if (code === "23503" && pgError.constraint && missingReferences[pgError.constraint]) {
    const reference = missingReferences[pgError.constraint]!;
    return new AppError(reference.code, reference.describe(context), { details: context, cause: error });
  }
  if (code === "23514") {
    return new AppError("LEDGER_INVARIANT_BROKEN", `ledger constraint ${pgError.constraint ?? "?"} refused the change`, {
      details: context,
      cause: error,
    });
  }
  if (code === "40001" || code === "40P01") {
    return new AppError("DATABASE_CONFLICT", pgError.message, { details: context, cause: error });
  }
  if (unavailableCodes.has(code) || code.startsWith("08")) {
    return new AppError("DATABASE_UNAVAILABLE", `database unavailable: ${pgError.message}`, { details: context, cause: error });
  }
  return error;
}
