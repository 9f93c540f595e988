// The ledger: the only code that writes credit transactions, lots and reservations.
export { grantCredits, type CreditTransactionResult, type GrantCreditsInput } from "./grant-credits.js";
export { reserveCredits, type Reservation, type ReserveCreditsInput } from "./reserve-credits.js";
export { captureReservation, type Capture } from "./capture-reservation.js";
export { releaseReservation } from "./release-reservation.js";
export { expireReservations, type ExpiredReservation } from "./expire-reservations.js";
export { refundUsage } from "./refund-usage.js";
export { getBalance, type Balance } from "./get-balance.js";
export { listTransactions, transactionTabs, type TransactionView } from "./list-transactions.js";
export { monthlySummary, type MonthSummary } from "./monthly-summary.js";
export { usageByEvent, type EventUsage } from "./usage-by-event.js";
export { creditsUsedBySource } from "./credits-used-by-source.js";
export { maxCreditsPerOperation, type AdditionType, type UsageType } from "./ledger-inputs.js";
export { capturePhotoCharges, type PhotoCapture } from "./capture-photo-charges.js";
export { LedgerBatcher } from "./ledger-batcher.js";
export { creditsPerPhoto } from "./usage-prices.js";
