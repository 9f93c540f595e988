import { z } from "zod";

const currencies = new Set(Intl.supportedValuesOf("currency"));

/** Intl's list holds only canonical names (Asia/Calcutta, not Asia/Kolkata); constructing a formatter accepts every IANA name and alias. */
function isTimeZone(zone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const currencyCode = z
  .string({ error: "must be an ISO 4217 currency code" })
  .refine((code) => currencies.has(code), { error: "must be an ISO 4217 currency code such as EUR, JPY or KWD" });

export const timeZone = z
  .string({ error: "must be an IANA time zone" })
  .refine(isTimeZone, { error: "must be an IANA time zone such as Europe/Berlin" });

/** A decimal string such as "0.05": prices are never floats. */
export const costPerCredit = z
  .string({ error: "must be a decimal string such as \"0.05\"" })
  .regex(/^(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?$/, { error: "must be a positive decimal with at most 6 decimal places" })
  .refine((value) => /[1-9]/.test(value), { error: "must be greater than 0" });
