import { expect, it } from "vitest";
import { formatMoney, minorUnitDigits, priceCredits } from "./money.js";

it.each([
  ["EUR", 2], ["JPY", 0], ["KWD", 3], ["USD", 2],
])("%s has %i minor-unit digits", (currency, digits) => {
  expect(minorUnitDigits(currency)).toBe(digits);
});

it.each([
  // credits, unit price, tax, currency -> subtotal, tax, total (minor units)
  [1000, "0.05", "0", "EUR", 5000n, 0n, 5000n],
  [1234, "0.0333", "0.19", "EUR", 4109n, 781n, 4890n],
  [1000, "3.5", "0.1", "JPY", 3500n, 350n, 3850n],
  [1001, "0.0125", "0", "KWD", 12513n, 0n, 12513n],
  [3, "0.1", "0", "EUR", 30n, 0n, 30n], // 0.1 + 0.2 style float traps do not apply
  [10_000_000, "0.123456", "0.07", "EUR", 123456000n, 8641920n, 132097920n],
])("%i credits at %s with tax %s in %s", (credits, unitPrice, taxRate, currency, subtotal, tax, total) => {
  expect(priceCredits(credits, unitPrice, taxRate, currency)).toMatchObject({ subtotalMinor: subtotal, taxMinor: tax, totalMinor: total });
});

it("formats amounts for their currency without floating point", () => {
  expect(formatMoney(123450n, "EUR")).toBe("€1,234.50");
  expect(formatMoney(3500n, "JPY")).toBe("¥3,500");
  expect(formatMoney(12513n, "KWD")).toBe("KWD\u00a012.513");
  expect(formatMoney(99999999999999999n, "EUR")).toBe("€999,999,999,999,999.99");
});
