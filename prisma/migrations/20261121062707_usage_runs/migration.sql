-- CreateEnum
CREATE TYPE "usage_run_status" AS ENUM ('QUEUED', 'RUNNING', 'PARKED', 'COMPLETED', 'FAILED');

-- AlterTable
ALTER TABLE "organisation" ADD COLUMN     "pause_notified_at" TIMESTAMPTZ(3),
ADD COLUMN     "paused_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "reservation" ADD COLUMN     "capture_fingerprint" TEXT;

-- CreateTable
CREATE TABLE "usage_run" (
    "org_id" UUID NOT NULL,
    "run_id" TEXT NOT NULL,
    "usage_type" "usage_type" NOT NULL,
    "event_id" INTEGER NOT NULL,
    "user_id" UUID,
    "photo_ids" TEXT[],
    "request_fingerprint" TEXT NOT NULL,
    "status" "usage_run_status" NOT NULL DEFAULT 'QUEUED',
    "failed_photo_ids" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "sequence" BIGSERIAL NOT NULL,
    "enqueued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "parked_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "failure_reason" TEXT,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "usage_run_pkey" PRIMARY KEY ("org_id","run_id","usage_type")
);

-- CreateTable
CREATE TABLE "photo_charge" (
    "org_id" UUID NOT NULL,
    "run_id" TEXT NOT NULL,
    "usage_type" "usage_type" NOT NULL,
    "photo_id" TEXT NOT NULL,
    "credits" INTEGER NOT NULL,
    "usage_transaction_id" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "photo_charge_pkey" PRIMARY KEY ("org_id","run_id","usage_type","photo_id")
);

-- CreateIndex
CREATE INDEX "usage_run_status_org_id_sequence_idx" ON "usage_run"("status", "org_id", "sequence");

-- CreateIndex
CREATE INDEX "photo_charge_usage_transaction_id_idx" ON "photo_charge"("usage_transaction_id");

-- AddForeignKey
ALTER TABLE "usage_run" ADD CONSTRAINT "usage_run_org_id_event_id_fkey" FOREIGN KEY ("org_id", "event_id") REFERENCES "event"("org_id", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- ---------------------------------------------------------------------------
-- Metering: per-photo charges as the exactly-once fence, and batched ledger
-- calls for the hot path.
-- ---------------------------------------------------------------------------

ALTER TABLE "photo_charge" ADD CONSTRAINT "photo_charge_credits_positive" CHECK ("credits" > 0);
CREATE TRIGGER photo_charge_append_only BEFORE UPDATE OR DELETE ON "photo_charge"
  FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER photo_charge_no_truncate BEFORE TRUNCATE ON "photo_charge"
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();

ALTER TABLE "usage_run"
  ADD CONSTRAINT "usage_run_photo_count" CHECK (cardinality("photo_ids") BETWEEN 1 AND 10000);
CREATE INDEX "usage_run_parked_idx" ON "usage_run" ("org_id", "sequence") WHERE "status" = 'PARKED';
CREATE INDEX "organisation_paused_idx" ON "organisation" ("id") WHERE "processing_state" = 'PAUSED';
CREATE INDEX "reservation_reference_held_idx" ON "reservation" ("org_id", "reference") WHERE "status" = 'HELD';

CREATE FUNCTION ledger_photo_capture_fingerprint(
  p_run_id text, p_credits_per_photo int, p_photo_ids text[], p_failed_photo_ids text[], p_run_done boolean
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT md5(jsonb_build_array(p_run_id, p_credits_per_photo, p_photo_ids, p_failed_photo_ids, p_run_done)::text);
$$;

-- Settles one segment of a usage run: charges the photos processed under a
-- held reservation, records the photos that failed, and marks the run
-- completed when this was its last segment, in one transaction. A photo
-- already charged for this run and usage type is not charged again: the
-- photo_charge primary key is the fence, whoever retries.
CREATE FUNCTION ledger_capture_photos(
  p_org uuid, p_key text, p_run_id text, p_photo_ids text[], p_credits_per_photo int,
  p_failed_photo_ids text[], p_run_done boolean
) RETURNS TABLE (transaction_id bigint, photos_charged int, credits_captured int, credits_released int,
                 balance_after bigint, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_reservation reservation%ROWTYPE;
  v_transaction bigint;
  v_charged int;
  v_used int;
  v_fingerprint text;
BEGIN
  v_reservation := ledger_lock_reservation(p_org, p_key);
  v_fingerprint := ledger_photo_capture_fingerprint(p_run_id, p_credits_per_photo, p_photo_ids, p_failed_photo_ids, p_run_done);
  IF v_reservation.status = 'CAPTURED' THEN
    IF v_reservation.capture_fingerprint IS DISTINCT FROM v_fingerprint THEN
      RAISE EXCEPTION 'reservation "%" was already captured with other photos', p_key USING ERRCODE = 'CR002';
    END IF;
    RETURN QUERY SELECT v_reservation.usage_transaction_id,
      (SELECT count(*)::int FROM photo_charge c WHERE c.usage_transaction_id = v_reservation.usage_transaction_id),
      v_reservation.credits_captured, v_reservation.credits_reserved - v_reservation.credits_captured,
      ledger_captured_balance(v_reservation), true;
    RETURN;
  END IF;
  PERFORM ledger_require_held(v_reservation);
  -- The org lock before any other write, as in the batch: same lock order everywhere.
  PERFORM ledger_lock_org(p_org);
  UPDATE reservation r SET capture_fingerprint = v_fingerprint WHERE r.id = v_reservation.id;
  v_transaction := nextval('credit_transaction_id_seq');
  WITH charged AS (
    INSERT INTO photo_charge (org_id, run_id, usage_type, photo_id, credits, usage_transaction_id)
      SELECT DISTINCT p_org, p_run_id, v_reservation.usage_type, photo, p_credits_per_photo, v_transaction
      FROM unnest(p_photo_ids) AS photo
      ON CONFLICT DO NOTHING
      RETURNING 1
  )
  SELECT count(*) INTO v_charged FROM charged;
  v_used := v_charged * p_credits_per_photo;
  IF v_used > v_reservation.credits_reserved THEN
    RAISE EXCEPTION 'cannot capture % credits: reservation "%" holds %', v_used, p_key,
      v_reservation.credits_reserved USING ERRCODE = 'CR005';
  END IF;
  IF v_used = 0 THEN
    v_transaction := NULL;
  END IF;
  UPDATE usage_run u
    SET failed_photo_ids = CASE WHEN cardinality(p_failed_photo_ids) = 0 THEN u.failed_photo_ids
                                ELSE ARRAY(SELECT DISTINCT f FROM unnest(u.failed_photo_ids || p_failed_photo_ids) AS f) END,
        status = CASE WHEN p_run_done THEN 'COMPLETED'::usage_run_status ELSE u.status END,
        completed_at = CASE WHEN p_run_done THEN now() ELSE u.completed_at END,
        updated_at = now()
    WHERE u.org_id = p_org AND u.run_id = p_run_id AND u.usage_type = v_reservation.usage_type;
  RETURN QUERY SELECT v_transaction, v_charged, v_used, v_reservation.credits_reserved - v_used,
    ledger_settle_reservation(v_reservation, v_used, v_transaction), false;
END $$;

-- Batches for the hot path: many requests in one transaction, set-based: one
-- statement per table and one balance update per organisation, however many
-- requests. A batch with anything unusual in it (a missing or settled hold, a
-- key or run twice, a replay with other arguments) is refused with CR010, and
-- the caller then sends its requests one by one, so each gets its own answer.
CREATE FUNCTION ledger_reserve_many(p_requests jsonb)
RETURNS TABLE (request_index int, reservation_id bigint, credits_reserved int, status reservation_status,
               expires_at timestamptz, replayed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM 1 FROM organisation o
    WHERE o.id IN (SELECT (r->>'orgId')::uuid FROM jsonb_array_elements(p_requests) AS r)
    ORDER BY o.id FOR NO KEY UPDATE;
  IF (SELECT count(*) FROM organisation o
      WHERE o.id IN (SELECT (r->>'orgId')::uuid FROM jsonb_array_elements(p_requests) AS r))
     <> (SELECT count(DISTINCT r->>'orgId') FROM jsonb_array_elements(p_requests) AS r)
  OR EXISTS (
    SELECT 1 FROM jsonb_array_elements(p_requests) AS r
    GROUP BY r->>'orgId', r->>'key' HAVING count(*) > 1
    UNION ALL
    SELECT 1 FROM jsonb_array_elements(p_requests) AS r
    JOIN reservation x ON x.org_id = (r->>'orgId')::uuid AND x.key = r->>'key'
    WHERE x.request_fingerprint <> r->>'fingerprint'
  ) THEN
    RAISE EXCEPTION 'reservation batch needs one-by-one handling' USING ERRCODE = 'CR010';
  END IF;
  RETURN QUERY
  WITH requests AS (
    SELECT (t.ordinality - 1)::int AS idx, (t.r->>'orgId')::uuid AS org_id, t.r->>'key' AS key,
           t.r->>'fingerprint' AS fingerprint, (t.r->>'credits')::int AS credits, (t.r->>'usageType')::usage_type AS usage_type,
           (t.r->>'eventId')::int AS event_id, (t.r->>'userId')::uuid AS user_id, t.r->>'reference' AS reference,
           (t.r->>'ttlMs')::int AS ttl_ms
    FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS t(r, ordinality)
  ),
  fresh AS (
    SELECT q.* FROM requests q
    WHERE NOT EXISTS (SELECT 1 FROM reservation x WHERE x.org_id = q.org_id AND x.key = q.key)
  ),
  -- Greedy in request order: each gets what is left after those before it.
  granted AS (
    SELECT f.*, GREATEST(0, LEAST(f.credits::bigint, o.balance_credits - o.reserved_credits
             - COALESCE(sum(f.credits) OVER (PARTITION BY f.org_id ORDER BY f.idx ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)))::int AS granted
    FROM fresh f JOIN organisation o ON o.id = f.org_id
  ),
  inserted AS (
    INSERT INTO reservation (org_id, key, request_fingerprint, credits_requested, credits_reserved,
                             usage_type, event_id, user_id, reference, expires_at)
    SELECT g.org_id, g.key, g.fingerprint, g.credits, g.granted, g.usage_type, g.event_id, g.user_id, g.reference,
           now() + g.ttl_ms * interval '1 millisecond'
    FROM granted g
    RETURNING id, org_id, key, credits_reserved, status, expires_at
  ),
  held AS (
    UPDATE organisation o SET reserved_credits = o.reserved_credits + t.total
    FROM (SELECT i.org_id, sum(i.credits_reserved) AS total FROM inserted i GROUP BY i.org_id) AS t
    WHERE o.id = t.org_id AND t.total > 0
    RETURNING o.id
  )
  SELECT q.idx, COALESCE(i.id, x.id), COALESCE(i.credits_reserved, x.credits_reserved), COALESCE(i.status, x.status),
         COALESCE(i.expires_at, x.expires_at), i.id IS NULL
  FROM requests q
  LEFT JOIN inserted i ON i.org_id = q.org_id AND i.key = q.key
  LEFT JOIN reservation x ON x.org_id = q.org_id AND x.key = q.key;
END $$;

CREATE FUNCTION ledger_capture_photos_many(p_requests jsonb)
RETURNS TABLE (request_index int, transaction_id bigint, photos_charged int, credits_captured int,
               credits_released int, balance_after bigint, replayed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_requests int := jsonb_array_length(p_requests);
  v_orgs uuid[];
BEGIN
  -- Lock order as everywhere: reservations, then organisations, then lots.
  PERFORM 1 FROM reservation x
    JOIN jsonb_array_elements(p_requests) AS r ON x.org_id = (r->>'orgId')::uuid AND x.key = r->>'key'
    ORDER BY x.org_id, x.key FOR UPDATE OF x;
  IF (SELECT count(*) FROM reservation x
        JOIN jsonb_array_elements(p_requests) AS r ON x.org_id = (r->>'orgId')::uuid AND x.key = r->>'key'
        WHERE x.status IN ('HELD', 'CAPTURED')) <> v_requests
     OR (SELECT count(DISTINCT (r->>'orgId', r->>'key')) FROM jsonb_array_elements(p_requests) AS r) <> v_requests
     OR (SELECT count(DISTINCT (r->>'orgId', r->>'runId')) FROM jsonb_array_elements(p_requests) AS r) <> v_requests
     OR EXISTS (SELECT 1 FROM reservation x
                JOIN jsonb_array_elements(p_requests) AS r ON x.org_id = (r->>'orgId')::uuid AND x.key = r->>'key'
                WHERE x.status = 'CAPTURED' AND x.capture_fingerprint IS DISTINCT FROM ledger_photo_capture_fingerprint(
                  r->>'runId', (r->>'creditsPerPhoto')::int, ARRAY(SELECT jsonb_array_elements_text(r->'photoIds')),
                  ARRAY(SELECT jsonb_array_elements_text(r->'failedPhotoIds')), (r->>'runDone')::boolean)) THEN
    RAISE EXCEPTION 'capture batch needs one-by-one handling' USING ERRCODE = 'CR010';
  END IF;
  v_orgs := ARRAY(SELECT DISTINCT (r->>'orgId')::uuid FROM jsonb_array_elements(p_requests) AS r);
  PERFORM 1 FROM organisation o WHERE o.id = ANY (v_orgs) ORDER BY o.id FOR NO KEY UPDATE;
  PERFORM 1 FROM credit_lot l WHERE l.org_id = ANY (v_orgs) AND l.remaining_credits > 0 ORDER BY l.id FOR NO KEY UPDATE;

  RETURN QUERY
  WITH requests AS (
    SELECT (t.ordinality - 1)::int AS idx, (t.r->>'orgId')::uuid AS org_id, t.r->>'key' AS key, t.r->>'runId' AS run_id,
           (t.r->>'creditsPerPhoto')::int AS price, t.r->'photoIds' AS photo_ids,
           ARRAY(SELECT jsonb_array_elements_text(t.r->'failedPhotoIds')) AS failed_ids, (t.r->>'runDone')::boolean AS run_done,
           ledger_photo_capture_fingerprint(t.r->>'runId', (t.r->>'creditsPerPhoto')::int,
             ARRAY(SELECT jsonb_array_elements_text(t.r->'photoIds')), ARRAY(SELECT jsonb_array_elements_text(t.r->'failedPhotoIds')),
             (t.r->>'runDone')::boolean) AS capture_fingerprint
    FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS t(r, ordinality)
  ),
  held AS MATERIALIZED (
    SELECT q.*, x.id AS reservation_id, x.usage_type, x.event_id, x.user_id, x.reference, x.request_fingerprint,
           x.credits_reserved, nextval('credit_transaction_id_seq') AS tx
    FROM requests q JOIN reservation x ON x.org_id = q.org_id AND x.key = q.key
    WHERE x.status = 'HELD'
  ),
  -- The fence: a photo already charged for this run and usage type is skipped.
  charged AS (
    INSERT INTO photo_charge (org_id, run_id, usage_type, photo_id, credits, usage_transaction_id)
    SELECT DISTINCT h.org_id, h.run_id, h.usage_type, p.photo, h.price, h.tx
    FROM held h, jsonb_array_elements_text(h.photo_ids) AS p(photo)
    ON CONFLICT DO NOTHING
    RETURNING usage_transaction_id
  ),
  debits AS MATERIALIZED (
    SELECT h.*, COALESCE(c.photos, 0)::int AS photos, (COALESCE(c.photos, 0) * h.price)::int AS credits_used,
           (o.balance_credits - sum(COALESCE(c.photos, 0) * h.price) OVER (PARTITION BY h.org_id ORDER BY h.idx))::bigint AS balance_after
    FROM held h
    JOIN organisation o ON o.id = h.org_id
    LEFT JOIN (SELECT usage_transaction_id, count(*) AS photos FROM charged GROUP BY usage_transaction_id) AS c
      ON c.usage_transaction_id = h.tx
  ),
  balances AS (
    UPDATE organisation o
    SET balance_credits = o.balance_credits - t.used, reserved_credits = o.reserved_credits - t.released_hold
    FROM (SELECT d.org_id, sum(d.credits_used) AS used, sum(d.credits_reserved) AS released_hold FROM debits d GROUP BY d.org_id) AS t
    WHERE o.id = t.org_id
    RETURNING o.id
  ),
  usages AS (
    INSERT INTO credit_transaction (id, org_id, type, usage_type, credits, event_id, user_id, balance_after,
                                    idempotency_key, request_fingerprint, reference)
    SELECT d.tx, d.org_id, 'USAGE', d.usage_type, -d.credits_used, d.event_id, d.user_id, d.balance_after,
           'capture:' || d.key, d.request_fingerprint, d.reference
    FROM debits d WHERE d.credits_used > 0
    RETURNING id
  ),
  -- Oldest lots first: each usage draws the slice of the org's open lots that
  -- its credits cover, after the usages before it in this batch.
  lot_ranges AS (
    SELECT l.id AS lot_id, l.org_id,
           sum(l.remaining_credits) OVER w - l.remaining_credits AS range_start, sum(l.remaining_credits) OVER w AS range_end
    FROM credit_lot l WHERE l.org_id = ANY (v_orgs) AND l.remaining_credits > 0
    WINDOW w AS (PARTITION BY l.org_id ORDER BY l.id)
  ),
  usage_ranges AS (
    SELECT d.tx, d.org_id, sum(d.credits_used) OVER w - d.credits_used AS range_start, sum(d.credits_used) OVER w AS range_end
    FROM debits d WHERE d.credits_used > 0
    WINDOW w AS (PARTITION BY d.org_id ORDER BY d.idx)
  ),
  draws AS MATERIALIZED (
    SELECT u.tx, l.lot_id, (LEAST(u.range_end, l.range_end) - GREATEST(u.range_start, l.range_start))::int AS credits
    FROM usage_ranges u JOIN lot_ranges l
      ON l.org_id = u.org_id AND l.range_start < u.range_end AND u.range_start < l.range_end
  ),
  movements AS (
    INSERT INTO lot_movement (lot_id, transaction_id, credits) SELECT w.lot_id, w.tx, -w.credits FROM draws w
    RETURNING 1
  ),
  lots AS (
    UPDATE credit_lot l SET remaining_credits = l.remaining_credits - t.drawn
    FROM (SELECT w.lot_id, sum(w.credits) AS drawn FROM draws w GROUP BY w.lot_id) AS t
    WHERE l.id = t.lot_id
    RETURNING 1
  ),
  settled AS (
    UPDATE reservation x
    SET status = 'CAPTURED', credits_captured = d.credits_used, settled_at = now(), capture_fingerprint = d.capture_fingerprint,
        usage_transaction_id = CASE WHEN d.credits_used > 0 THEN d.tx END
    FROM debits d WHERE x.id = d.reservation_id
    RETURNING 1
  ),
  runs AS (
    UPDATE usage_run u
    SET failed_photo_ids = CASE WHEN cardinality(d.failed_ids) = 0 THEN u.failed_photo_ids
                                ELSE ARRAY(SELECT DISTINCT f FROM unnest(u.failed_photo_ids || d.failed_ids) AS f) END,
        status = CASE WHEN d.run_done THEN 'COMPLETED'::usage_run_status ELSE u.status END,
        completed_at = CASE WHEN d.run_done THEN now() ELSE u.completed_at END,
        updated_at = now()
    FROM debits d WHERE u.org_id = d.org_id AND u.run_id = d.run_id AND u.usage_type = d.usage_type
    RETURNING 1
  )
  SELECT d.idx, CASE WHEN d.credits_used > 0 THEN d.tx END, d.photos, d.credits_used,
         d.credits_reserved - d.credits_used, d.balance_after, false
  FROM debits d
  UNION ALL
  SELECT q.idx, x.usage_transaction_id,
         (SELECT count(*)::int FROM photo_charge c WHERE c.usage_transaction_id = x.usage_transaction_id),
         x.credits_captured, x.credits_reserved - x.credits_captured, ledger_captured_balance(x), true
  FROM requests q JOIN reservation x ON x.org_id = q.org_id AND x.key = q.key
  WHERE x.status = 'CAPTURED';

  -- A capture above its hold is refused by the reservation's CHECK; lots that
  -- hold less than the balance would leave usage undrawn: refuse that too.
  IF EXISTS (SELECT 1 FROM organisation o WHERE o.id = ANY (v_orgs) AND o.balance_credits <>
               (SELECT COALESCE(sum(l.remaining_credits), 0) FROM credit_lot l WHERE l.org_id = o.id AND l.remaining_credits > 0)) THEN
    RAISE EXCEPTION 'lots of an organisation in this batch no longer add up to its balance' USING ERRCODE = 'CR900';
  END IF;
END $$;

ALTER TABLE "usage_run" ADD CONSTRAINT "usage_run_user_fkey" FOREIGN KEY ("org_id", "user_id") REFERENCES "app_user" ("org_id", "id");

-- Starts (or restarts) usage runs for the metering workers, many per call:
-- records each run (idempotently, by org, run id and usage type) as RUNNING
-- unless it is finished, and says what the worker needs to continue it.
CREATE FUNCTION metering_start_runs(p_runs jsonb)
RETURNS TABLE (request_index int, status usage_run_status, fingerprint_matches boolean, charged_photo_ids text[],
               failed_photo_ids text[], must_park boolean, stale_hold_keys text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH requests AS (
    SELECT (t.ordinality - 1)::int AS idx, (t.r->>'orgId')::uuid AS org_id, t.r->>'runId' AS run_id,
           (t.r->>'kind')::usage_type AS usage_type, (t.r->>'eventId')::int AS event_id, (t.r->>'userId')::uuid AS user_id,
           ARRAY(SELECT jsonb_array_elements_text(t.r->'photoIds')) AS photo_ids, t.r->>'fingerprint' AS fingerprint
    FROM jsonb_array_elements(p_runs) WITH ORDINALITY AS t(r, ordinality)
  ),
  started AS (
    INSERT INTO usage_run AS u (org_id, run_id, usage_type, event_id, user_id, photo_ids, request_fingerprint, status)
    SELECT q.org_id, q.run_id, q.usage_type, q.event_id, q.user_id, q.photo_ids, q.fingerprint, 'RUNNING' FROM requests q
    ORDER BY q.org_id, q.run_id, q.usage_type  -- the producer writes runs in this order too
    ON CONFLICT (org_id, run_id, usage_type) DO UPDATE
      SET status = CASE WHEN u.status IN ('COMPLETED', 'FAILED') THEN u.status ELSE 'RUNNING'::usage_run_status END,
          parked_at = CASE WHEN u.status IN ('COMPLETED', 'FAILED') THEN u.parked_at END,
          updated_at = now()
    RETURNING u.org_id, u.run_id, u.usage_type, u.status, u.request_fingerprint, u.sequence, u.failed_photo_ids
  )
  SELECT q.idx, s.status, s.request_fingerprint = q.fingerprint,
    ARRAY(SELECT c.photo_id FROM photo_charge c
          WHERE c.org_id = s.org_id AND c.run_id = s.run_id AND c.usage_type = s.usage_type),
    s.failed_photo_ids,
    EXISTS (SELECT 1 FROM organisation o WHERE o.id = s.org_id AND o.processing_state = 'PAUSED')
      OR EXISTS (SELECT 1 FROM usage_run p WHERE p.org_id = s.org_id AND p.status = 'PARKED' AND p.sequence < s.sequence),
    ARRAY(SELECT r.key FROM reservation r
          WHERE r.org_id = s.org_id AND r.reference = s.run_id AND r.usage_type = s.usage_type AND r.status = 'HELD')
  FROM requests q JOIN started s ON s.org_id = q.org_id AND s.run_id = q.run_id AND s.usage_type = q.usage_type;
END $$;
