import { expect, it } from "vitest";
import { timeZone } from "./organisation-inputs.js";

it("keeps a zone under the name ICU and PostgreSQL both read the same way; refuses abbreviations", () => {
  expect(timeZone.parse("Europe/Berlin")).toBe("Europe/Berlin");
  expect(timeZone.parse("UTC")).toBe("UTC");
  expect(timeZone.parse("Asia/Kolkata")).toBe("Asia/Calcutta");
  expect(timeZone.parse("US/Pacific-New")).toBe("America/Los_Angeles");
  for (const refused of ["IST", "PST", "EST5EDT", "+05:30", "Europe/Nowhere", ""]) {
    expect(timeZone.safeParse(refused).success, refused).toBe(false);
  }
});
