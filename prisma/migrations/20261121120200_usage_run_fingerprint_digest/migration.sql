-- A run's fingerprint was the JSON of its event, user and photo list: up to
-- 10,000 photo ids a second time in the row (which then went to TOAST) and in
-- every run start. It is now that JSON's SHA-256, as the producer computes it
-- (workers/metering-queues.ts); the runs recorded before are converted here
-- the same way, so that enqueueing one of them again still matches.
UPDATE "usage_run"
SET "request_fingerprint" = 'sha256:' || encode(sha256(convert_to("request_fingerprint", 'UTF8')), 'hex')
WHERE "request_fingerprint" NOT LIKE 'sha256:%';
