-- A run's photo lists are never missing: the workers read both as arrays, and
-- the photo-count CHECK lets a NULL list through. (Prisma's String[] cannot say
-- NOT NULL, so it is said here.) No run is recorded without its photos; a run
-- recorded before failed photos were tracked gets an empty list.
UPDATE "usage_run" SET "failed_photo_ids" = ARRAY[]::TEXT[] WHERE "failed_photo_ids" IS NULL;
ALTER TABLE "usage_run" ALTER COLUMN "photo_ids" SET NOT NULL, ALTER COLUMN "failed_photo_ids" SET NOT NULL;
