import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SharpPhotoProcessor } from "./sharp-photo-processor.js";

let photoDir: string;
beforeAll(async () => {
  photoDir = await mkdtemp(path.join(tmpdir(), "photos-"));
  // 40x20 pixels, stored with EXIF orientation 6: it displays rotated 90°, as 20x40.
  await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toFile(path.join(photoDir, "sideways.jpg"));
});
afterAll(async () => {
  await rm(photoDir, { recursive: true, force: true });
});

it("AI Image Rotation writes the photo turned upright", async () => {
  const results = await new SharpPhotoProcessor(photoDir).process({ orgId: "o", eventId: 7, kind: "AI_IMAGE_ROTATION", photoIds: ["sideways.jpg"] });
  expect(results).toEqual({ processed: ["sideways.jpg"], failed: [] });
  const upright = await sharp(path.join(photoDir, "processed", "7", "sideways.jpg")).metadata();
  expect([upright.width, upright.height, upright.orientation ?? 1]).toEqual([20, 40, 1]);
});

it("Photo Processing writes an index entry; missing files and unsafe ids fail only those photos", async () => {
  const results = await new SharpPhotoProcessor(photoDir).process({
    orgId: "o", eventId: 7, kind: "PHOTO_PROCESSING", photoIds: ["sideways.jpg", "missing.jpg", "../etc/passwd"],
  });
  expect(results.processed).toEqual(["sideways.jpg"]);
  expect(results.failed.map((failure) => failure.photoId)).toEqual(["missing.jpg", "../etc/passwd"]);
  const entry = JSON.parse(await readFile(path.join(photoDir, "processed", "7", "sideways.jpg.json"), "utf8"));
  expect(entry).toMatchObject({ photoId: "sideways.jpg", width: 40, height: 20, format: "jpeg" });
  expect(entry.meanColour[0]).toBeGreaterThan(150);
});
