import { Decimal } from "decimal.js";

// Building an Intl.NumberFormat costs far more than formatting with one; statements format thousands of amounts.
const minorDigitsByCurrency = new Map<string, number>();
const moneyFormats = new Map<string, Intl.NumberFormat>();

/** Digits after the point in a currency's minor unit: 0 for JPY, 2 for EUR, 3 for KWD. */
export function minorUnitDigits(currency: string): number {
  let digits = minorDigitsByCurrency.get(currency);
  if (digits === undefined) {
    digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
    minorDigitsByCurrency.set(currency, digits);
  }
  return digits;
}

export interface Price {
  unitPrice: string;
  subtotalMinor: bigint;
  taxRate: string;
  taxMinor: bigint;
  totalMinor: bigint;
}

/**
 * credits x unit price, exactly, rounded once to the currency's minor unit;
 * the tax on that subtotal, rounded once; and their sum. Half-up rounding.
 */
export function priceCredits(credits: number, unitPrice: string, taxRate: string, currency: string): Price {
  const scale = new Decimal(10).pow(minorUnitDigits(currency));
  const subtotal = new Decimal(credits).times(unitPrice).times(scale).toDecimalPlaces(0, Decimal.ROUND_HALF_UP);
  const tax = subtotal.times(taxRate).toDecimalPlaces(0, Decimal.ROUND_HALF_UP);
  return {
    unitPrice: new Decimal(unitPrice).toFixed(),
    subtotalMinor: BigInt(subtotal.toFixed(0)),
    taxRate: new Decimal(taxRate).toFixed(),
    taxMinor: BigInt(tax.toFixed(0)),
    totalMinor: BigInt(subtotal.plus(tax).toFixed(0)),
  };
}

/** "€1,234.50", "¥5,000", "KWD 12.345": an amount in minor units, formatted for its currency. */
export function formatMoney(minor: bigint, currency: string, locale = "en"): string {
  const digits = minorUnitDigits(currency);
  const major = new Decimal(minor.toString()).dividedBy(new Decimal(10).pow(digits)).toFixed(digits);
  const key = `${locale} ${currency}`;
  let format = moneyFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, { style: "currency", currency, minimumFractionDigits: digits });
    moneyFormats.set(key, format);
  }
  // Intl takes a decimal string exactly (no float) since Node 20's ICU.
  return format.format(major as `${number}`);
}

/** A numeric(18,6) as people write it: "0.050000" as "0.05", "2.000000" as "2". */
export function trimDecimal(value: string): string {
  return value.includes(".") ? value.replace(/0+$/, "").replace(/\.$/, "") : value;
}
