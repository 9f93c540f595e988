import type { UsageType } from "./ledger-inputs.js";

/** Credits charged per processed photo, by usage type: the one place prices live. */
export const creditsPerPhoto: Readonly<Record<UsageType, number>> = {
  PHOTO_PROCESSING: 1,
  AI_IMAGE_ROTATION: 1,
};
