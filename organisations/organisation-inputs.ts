import { z } from "zod";

const currencies = new Set(Intl.supportedValuesOf("currency"));

export const currencyCode = z
  .string({ error: "must be an ISO 4217 currency code" })
  .refine((code) => currencies.has(code), { error: "must be an ISO 4217 currency code such as EUR, JPY or KWD" });

/**
 * An IANA zone name, stored as ICU's canonical name for it ("Asia/Kolkata" is
 * kept as "Asia/Calcutta", "US/Pacific-New" as "America/Los_Angeles"), which
 * PostgreSQL reads the same way. Abbreviations such as IST or PST are refused:
 * ICU and PostgreSQL read them differently.
 */
function canonicalTimeZone(zone: string): string | null {
  if (zone !== "UTC" && !/^[A-Za-z]+\/[A-Za-z0-9_+\-/]+$/.test(zone)) return null;
  try {
    return new Intl.DateTimeFormat("en", { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

export const timeZone = z
  .string({ error: "must be an IANA time zone" })
  .transform((zone, context) => {
    const canonical = canonicalTimeZone(zone);
    if (canonical === null) {
      context.addIssue({ code: "custom", message: "must be an IANA time zone such as Europe/Berlin" });
      return z.NEVER;
    }
    return canonical;
  });

/** A decimal string such as "0.05": prices are never floats. */
export const costPerCredit = z
  .string({ error: "must be a decimal string such as \"0.05\"" })
  .regex(/^(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?$/, { error: "must be a positive decimal with at most 6 decimal places" })
  .refine((value) => /[1-9]/.test(value), { error: "must be greater than 0" });
