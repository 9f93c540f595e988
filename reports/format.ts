const monthFormat = new Intl.DateTimeFormat("en-GB", { month: "long", year: "numeric", timeZone: "UTC" });
const dateFormats = new Map<string, Intl.DateTimeFormat>();

/** "October 2026" */
export function monthLabel(month: string): string {
  return monthFormat.format(new Date(`${month}-01T12:00:00Z`));
}

/** "21 Nov 2026", in the given zone. */
export function dateLabel(at: Date, timeZone: string): string {
  let format = dateFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone });
    dateFormats.set(timeZone, format);
  }
  return format.format(at);
}

const countFormat = new Intl.NumberFormat("en");
/** "1,234" (toLocaleString would build a formatter for every number). */
export const count = (n: number) => countFormat.format(n);

export const usageTypeLabels: Record<string, string> = {
  PHOTO_PROCESSING: "Photo Processing",
  AI_IMAGE_ROTATION: "AI Image Rotation",
};

export const transactionTypeLabels: Record<string, string> = {
  USAGE: "Usage", PURCHASE: "Purchase", ADMIN_GRANT: "Admin Grant", FREE_CREDITS: "Free Credits", REFUND: "Refund",
};
