import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import type { PhotoBatch, PhotoProcessor, PhotoResults } from "./photo-processor.js";

const safePhotoId = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * Real, cheap work on image files in `photoDir` (named by photo id):
 * AI Image Rotation writes the photo turned upright from its EXIF
 * orientation; Photo Processing writes an index entry (size, format, mean
 * colour, sharpness) for search. Missing or unreadable files fail that photo.
 */
export class SharpPhotoProcessor implements PhotoProcessor {
  constructor(private readonly photoDir: string) {}

  async process(batch: PhotoBatch): Promise<PhotoResults> {
    const results: PhotoResults = { processed: [], failed: [] };
    const outputDir = path.join(this.photoDir, "processed", String(batch.eventId));
    await mkdir(outputDir, { recursive: true });
    for (const photoId of batch.photoIds) {
      if (!safePhotoId.test(photoId) || photoId.includes("..")) {
        results.failed.push({ photoId, reason: "photo id is not a safe file name" });
        continue;
      }
      try {
        const source = path.join(this.photoDir, photoId);
        if (batch.kind === "AI_IMAGE_ROTATION") {
          await sharp(source).rotate().toFile(path.join(outputDir, photoId));
        } else {
          const image = sharp(source);
          const [metadata, stats] = await Promise.all([image.metadata(), image.stats()]);
          const entry = {
            photoId, eventId: batch.eventId, width: metadata.width, height: metadata.height, format: metadata.format,
            meanColour: stats.channels.slice(0, 3).map((channel) => Math.round(channel.mean)), sharpness: stats.sharpness,
          };
          await writeFile(path.join(outputDir, `${photoId}.json`), JSON.stringify(entry));
        }
        results.processed.push(photoId);
      } catch (error) {
        results.failed.push({ photoId, reason: (error as Error).message });
      }
    }
    return results;
  }
}
