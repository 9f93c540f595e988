-- A run's photo lists are never missing: the workers read both as arrays, and
-- the photo-count CHECK lets a NULL list through. (Prisma's String[] cannot say
-- NOT NULL, so it is said here.)
ALTER TABLE "usage_run" ALTER COLUMN "photo_ids" SET NOT NULL;
ALTER TABLE "usage_run" ALTER COLUMN "failed_photo_ids" SET NOT NULL;
