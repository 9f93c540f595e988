import type { Config } from "../core/config.js";
import type { PhotoProcessor } from "./photo-processor.js";
import { SharpPhotoProcessor } from "./sharp-photo-processor.js";
import { SimulatedPhotoProcessor } from "./simulated-photo-processor.js";

export function createPhotoProcessor(config: Config): PhotoProcessor {
  return config.PHOTO_PROCESSOR === "sharp"
    ? new SharpPhotoProcessor(config.PHOTO_DIR)
    : new SimulatedPhotoProcessor({ latencyMsPerPhoto: config.SIMULATED_LATENCY_MS, failureRate: config.SIMULATED_FAILURE_RATE });
}
