-- A metering batch held its orgs' rows from its first write to its commit,
-- so batches of one org ran one after the other, on one core, with the
-- photo fence (most of their work) inside that wait. A batch now writes what
-- needs no balance first: the captures' fence rows and run rows, and the runs
-- it starts. Only then does it lock its orgs, in id order, for what reads or
-- moves credits: the Usage transactions, lots and holds. A second batch of
-- the same org writes its fence while the first settles.
--
-- The batch functions look every row up by its key. They run on pooled
-- connections, whose cached plans were made when the tables were small; with
-- no fresh statistics (autovacuum's ANALYZE replans them, but only now and
-- then) such a plan went on scanning usage_run or reservation whole, every
-- batch, as they grew. These functions plan without table scans.
--
-- Lock order, everywhere: reservations, then run rows (a batch locks all of
-- its runs' rows in one pass, in key order, before it writes a fence row),
-- then organisations, then lots. Whoever writes a run's fence rows holds the
-- run's row, so fence inserts never wait on each other in a cycle, and what a
-- batch then reads of its runs' charges is what they are.
--
-- Deploying: this migration rewrites photo_charge, the largest table (a row
-- per photo charged), and holds usage_run while it does. Stop the metering
-- workers while it runs.

-- The fence itself, narrower. Each photo charged writes a fence row and an
-- entry in its primary key, which was (org_id, run_id, usage_type, photo_id):
-- about 70 bytes an entry, and four comparisons, two of them text under the
-- database's collation, at each step down the tree. A run's fence rows are
-- now keyed by the run's sequence number, unique per org, run and kind, and
-- the photo id compared bytewise: the same fence, about a third cheaper to
-- write. Which org, run and kind a charge belongs to is its run's row, so
-- run rows are never deleted: a run recorded again would get a new sequence
-- number, and its photos could be charged again.
ALTER TABLE "usage_run" ADD CONSTRAINT "usage_run_sequence_key" UNIQUE ("sequence");

CREATE FUNCTION refuse_usage_run_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'usage runs are kept: their sequence numbers key the photo fence (% refused)', TG_OP USING ERRCODE = 'CR100';
END $$;
CREATE TRIGGER usage_run_kept BEFORE DELETE ON "usage_run"
  FOR EACH ROW EXECUTE FUNCTION refuse_usage_run_deletion();
CREATE TRIGGER usage_run_no_truncate BEFORE TRUNCATE ON "usage_run"
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_usage_run_deletion();

-- Photos charged through the ledger API for a run that was never recorded
-- (capturePhotoCharges did not ask for one) get a record built from their
-- charges: completed, with the photos charged as its photo list, its event
-- and user from its Usage transactions. Its fingerprint matches no request,
-- so enqueueing that run id later is refused as another run, not metered.
INSERT INTO "usage_run" ("org_id", "run_id", "usage_type", "event_id", "user_id", "photo_ids", "request_fingerprint",
                         "status", "completed_at")
  SELECT c."org_id", c."run_id", c."usage_type", min(t."event_id"), (array_agg(t."user_id"))[1],
         array_agg(c."photo_id" ORDER BY c."photo_id"), 'sha256:recorded-from-its-charges', 'COMPLETED', max(c."created_at")
  FROM "photo_charge" c
  JOIN "credit_transaction" t ON t."id" = c."usage_transaction_id"
  WHERE NOT EXISTS (SELECT 1 FROM "usage_run" u
                    WHERE u."org_id" = c."org_id" AND u."run_id" = c."run_id" AND u."usage_type" = c."usage_type")
  GROUP BY c."org_id", c."run_id", c."usage_type";

CREATE TABLE "photo_charge_by_run" (
  "run_sequence" BIGINT NOT NULL,
  "photo_id" TEXT COLLATE "C" NOT NULL,
  "credits" INTEGER NOT NULL,
  "usage_transaction_id" BIGINT NOT NULL,
  "created_at" TIMESTAMP(3) WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "photo_charge_credits_positive" CHECK ("credits" > 0)
);
INSERT INTO "photo_charge_by_run" ("run_sequence", "photo_id", "credits", "usage_transaction_id", "created_at")
  SELECT u."sequence", c."photo_id", c."credits", c."usage_transaction_id", c."created_at"
  FROM "photo_charge" c JOIN "usage_run" u USING ("org_id", "run_id", "usage_type");
DO $$
BEGIN
  IF (SELECT count(*) FROM "photo_charge") <> (SELECT count(*) FROM "photo_charge_by_run") THEN
    RAISE EXCEPTION 'photo charges lost in the rewrite of photo_charge';
  END IF;
END $$;
DROP TABLE "photo_charge";
ALTER TABLE "photo_charge_by_run" RENAME TO "photo_charge";
ALTER TABLE "photo_charge" ADD CONSTRAINT "photo_charge_pkey" PRIMARY KEY ("run_sequence", "photo_id");
CREATE TRIGGER photo_charge_append_only BEFORE UPDATE OR DELETE ON "photo_charge"
  FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER photo_charge_no_truncate BEFORE TRUNCATE ON "photo_charge"
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();
ANALYZE "photo_charge";

-- Locks the holds that captures name, in key order: the first lock a batch takes.
CREATE FUNCTION ledger_lock_holds(p_captures jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1
  FROM (SELECT (r->>'orgId')::uuid AS org_id, r->>'key' AS key FROM jsonb_array_elements(p_captures) AS r ORDER BY 1, 2) AS q
  CROSS JOIN LATERAL (SELECT 1 FROM reservation x WHERE x.org_id = q.org_id AND x.key = q.key LIMIT 1 FOR UPDATE) AS x;
END $$;

-- Locks the rows of the runs that p_requests (captures or run starts) name,
-- every kind of each, in key order: once per batch, before its first fence row.
CREATE FUNCTION metering_lock_runs(p_requests jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1
  FROM (SELECT DISTINCT (r->>'orgId')::uuid AS org_id, r->>'runId' AS run_id FROM jsonb_array_elements(p_requests) AS r
        ORDER BY 1, 2) AS k
  CROSS JOIN LATERAL (SELECT 1 FROM usage_run u WHERE u.org_id = k.org_id AND u.run_id = k.run_id
                      ORDER BY u.usage_type FOR NO KEY UPDATE) AS x;
END $$;

-- What a batch's unlocked part hands to its locked part.
CREATE TYPE ledger_fenced_capture AS (
  idx int, org_id uuid, key text, run_id text, price int, capture_fingerprint text, reservation_id bigint,
  usage_type usage_type, event_id int, user_id uuid, reference text, request_fingerprint text,
  credits_reserved int, tx bigint, photos int
);

CREATE TYPE metering_run_start AS (
  idx int, org_id uuid, run_id text, usage_type usage_type, event_id int, user_id uuid, hold_key text,
  price int, segment_photos int, ttl_ms int, status usage_run_status, sequence bigint, fingerprint_matches boolean,
  charged_ids text[], failed_ids text[], pending_photos int
);

-- Refuses a batch that needs one-by-one handling (CR010), writes the fence
-- rows of the held captures and records their runs' failed photos and
-- completion. The caller has locked the captures' holds and their runs' rows
-- (ledger_lock_holds, metering_lock_runs); no org lock is taken.
CREATE FUNCTION ledger_fence_photo_captures(p_requests jsonb) RETURNS ledger_fenced_capture[]
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
  v_requests int := jsonb_array_length(p_requests);
  v_settleable int;
  v_conflicting int;
  v_runless int;
  v_fenced ledger_fenced_capture[];
BEGIN
  WITH requests AS (
    SELECT (r->>'orgId')::uuid AS org_id, r->>'key' AS key, r FROM jsonb_array_elements(p_requests) AS r
  ),
  holds AS (
    SELECT q.r, x.status, x.capture_fingerprint
    FROM requests AS q
    CROSS JOIN LATERAL (
      SELECT x.status, x.capture_fingerprint FROM reservation x
      WHERE x.org_id = q.org_id AND x.key = q.key LIMIT 1
    ) AS x
  )
  SELECT count(*) FILTER (WHERE l.status IN ('HELD', 'CAPTURED')),
         count(*) FILTER (WHERE l.status = 'CAPTURED' AND l.capture_fingerprint IS DISTINCT FROM ledger_photo_capture_fingerprint(
           l.r->>'runId', (l.r->>'creditsPerPhoto')::int, ARRAY(SELECT jsonb_array_elements_text(l.r->'photoIds')),
           ARRAY(SELECT jsonb_array_elements_text(l.r->'failedPhotoIds')), (l.r->>'runDone')::boolean))
  INTO v_settleable, v_conflicting
  FROM holds l;
  IF v_settleable <> v_requests OR v_conflicting > 0
     OR (SELECT count(DISTINCT (r->>'orgId', r->>'key')) FROM jsonb_array_elements(p_requests) AS r) <> v_requests
     OR (SELECT count(DISTINCT (r->>'orgId', r->>'runId')) FROM jsonb_array_elements(p_requests) AS r) <> v_requests THEN
    RAISE EXCEPTION 'capture batch needs one-by-one handling' USING ERRCODE = 'CR010';
  END IF;

  WITH requests AS MATERIALIZED (
    SELECT (t.ordinality - 1)::int AS idx, (t.r->>'orgId')::uuid AS org_id, t.r->>'key' AS key, t.r->>'runId' AS run_id,
           (t.r->>'creditsPerPhoto')::int AS price, t.r->'photoIds' AS photo_ids,
           ARRAY(SELECT jsonb_array_elements_text(t.r->'failedPhotoIds')) AS failed_ids, (t.r->>'runDone')::boolean AS run_done,
           md5(jsonb_build_array(t.r->>'runId', (t.r->>'creditsPerPhoto')::int, t.r->'photoIds', COALESCE(t.r->'failedPhotoIds', '[]'),
             (t.r->>'runDone')::boolean)::text) AS capture_fingerprint
    FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS t(r, ordinality)
  ),
  held AS MATERIALIZED (
    SELECT q.idx, q.org_id, q.key, q.run_id, q.price, q.photo_ids, q.failed_ids, q.run_done, q.capture_fingerprint,
           x.id AS reservation_id, x.usage_type, x.event_id, x.user_id, x.reference, x.request_fingerprint, x.credits_reserved,
           nextval('credit_transaction_id_seq') AS tx
    FROM requests q
    CROSS JOIN LATERAL (SELECT x.* FROM reservation x WHERE x.org_id = q.org_id AND x.key = q.key LIMIT 1) AS x
    WHERE x.status = 'HELD'
  ),
  -- The fence. A batch charges photos that no one has charged yet, so a plain
  -- insert: a photo already charged (a retry, a duplicate job) makes it fail
  -- on the primary key, and its captures are then sent one by one, where the
  -- single capture skips that photo. Checking every photo for a conflict first
  -- would cost each batch about a third more. All or nothing: a capture that
  -- gets through charged every photo it was sent.
  runs AS (
    UPDATE usage_run u
    SET failed_photo_ids = CASE WHEN cardinality(h.failed_ids) = 0 THEN u.failed_photo_ids
                                ELSE ARRAY(SELECT DISTINCT f FROM unnest(u.failed_photo_ids || h.failed_ids) AS f) END,
        status = CASE WHEN h.run_done THEN 'COMPLETED'::usage_run_status ELSE u.status END,
        completed_at = CASE WHEN h.run_done THEN now() ELSE u.completed_at END,
        updated_at = now()
    FROM held h WHERE u.org_id = h.org_id AND u.run_id = h.run_id AND u.usage_type = h.usage_type
    RETURNING h.idx, u.sequence
  ),
  charged AS (
    INSERT INTO photo_charge (run_sequence, photo_id, credits, usage_transaction_id)
    SELECT r.sequence, p.photo, h.price, h.tx
    FROM runs r JOIN held h ON h.idx = r.idx, jsonb_array_elements_text(h.photo_ids) AS p(photo)
  )
  SELECT array_agg(ROW(h.idx, h.org_id, h.key, h.run_id, h.price, h.capture_fingerprint, h.reservation_id, h.usage_type,
                       h.event_id, h.user_id, h.reference, h.request_fingerprint, h.credits_reserved, h.tx,
                       jsonb_array_length(h.photo_ids))::ledger_fenced_capture ORDER BY h.idx),
         count(*) FILTER (WHERE r.idx IS NULL)
  INTO v_fenced, v_runless
  FROM held h LEFT JOIN runs r ON r.idx = h.idx;
  IF v_runless > 0 THEN
    -- A capture for a run with no row has no fence to write: one by one, it is refused by name.
    RAISE EXCEPTION 'capture batch needs one-by-one handling' USING ERRCODE = 'CR010';
  END IF;
  RETURN COALESCE(v_fenced, '{}');
END $$;

-- Charges the fenced captures and answers every capture of the batch,
-- replays included. The caller has locked the orgs of p_requests and their
-- open lots.
CREATE FUNCTION ledger_settle_photo_captures(p_requests jsonb, p_fenced ledger_fenced_capture[])
RETURNS TABLE (request_index int, transaction_id bigint, photos_charged int, credits_captured int,
               credits_released int, balance_after bigint, replayed boolean)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
  v_orgs uuid[] := ARRAY(SELECT DISTINCT (r->>'orgId')::uuid FROM jsonb_array_elements(p_requests) AS r);
BEGIN
  RETURN QUERY
  WITH debits AS MATERIALIZED (
    SELECT h.*, (h.photos * h.price)::int AS credits_used,
           (o.balance_credits - sum(h.photos * h.price) OVER (PARTITION BY h.org_id ORDER BY h.idx))::bigint AS balance_after
    FROM unnest(p_fenced) AS h
    JOIN organisation o ON o.id = h.org_id
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
    FROM credit_lot l WHERE l.org_id = ANY (v_orgs) AND l.is_open
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
  )
  SELECT d.idx, CASE WHEN d.credits_used > 0 THEN d.tx END, d.photos, d.credits_used,
         d.credits_reserved - d.credits_used, d.balance_after, false
  FROM debits d;

  -- The other captures were settled before (the fence function let only those
  -- through): they are answered as they were then.
  IF cardinality(p_fenced) < jsonb_array_length(p_requests) THEN
    RETURN QUERY
    SELECT (t.ordinality - 1)::int, x.usage_transaction_id,
           (SELECT count(*)::int FROM photo_charge c
            WHERE c.run_sequence = (SELECT u.sequence FROM usage_run u
                                    WHERE u.org_id = x.org_id AND u.run_id = t.r->>'runId' AND u.usage_type = x.usage_type)
              AND c.usage_transaction_id = x.usage_transaction_id),
           x.credits_captured, x.credits_reserved - x.credits_captured, ledger_captured_balance(x), true
    FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS t(r, ordinality)
    CROSS JOIN LATERAL (SELECT x.* FROM reservation x WHERE x.org_id = (t.r->>'orgId')::uuid AND x.key = t.r->>'key' LIMIT 1) AS x
    WHERE (t.ordinality - 1)::int <> ALL (ARRAY(SELECT f.idx FROM unnest(p_fenced) AS f));
  END IF;

  -- A capture above its hold is refused by the reservation's CHECK; lots that
  -- hold less than the balance would leave usage undrawn: refuse that too.
  IF EXISTS (SELECT 1 FROM organisation o WHERE o.id = ANY (v_orgs) AND o.balance_credits <>
               (SELECT COALESCE(sum(l.remaining_credits), 0) FROM credit_lot l WHERE l.org_id = o.id AND l.is_open)) THEN
    RAISE EXCEPTION 'lots of an organisation in this batch no longer add up to its balance' USING ERRCODE = 'CR900';
  END IF;
END $$;

CREATE OR REPLACE FUNCTION ledger_capture_photos_many(p_requests jsonb)
RETURNS TABLE (request_index int, transaction_id bigint, photos_charged int, credits_captured int,
               credits_released int, balance_after bigint, replayed boolean)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
  v_fenced ledger_fenced_capture[];
  v_orgs uuid[] := ARRAY(SELECT DISTINCT (r->>'orgId')::uuid FROM jsonb_array_elements(p_requests) AS r);
BEGIN
  PERFORM ledger_lock_holds(p_requests);
  PERFORM metering_lock_runs(p_requests);
  v_fenced := ledger_fence_photo_captures(p_requests);
  PERFORM 1 FROM organisation o WHERE o.id = ANY (v_orgs) ORDER BY o.id FOR NO KEY UPDATE;
  PERFORM 1 FROM credit_lot l WHERE l.org_id = ANY (v_orgs) AND l.is_open ORDER BY l.id FOR NO KEY UPDATE;
  RETURN QUERY SELECT * FROM ledger_settle_photo_captures(p_requests, v_fenced);
END $$;

-- A capture on its own, in the same order: its hold, its fence and run row, then its org.
CREATE OR REPLACE FUNCTION ledger_capture_photos(
  p_org uuid, p_key text, p_run_id text, p_photo_ids text[], p_credits_per_photo int,
  p_failed_photo_ids text[], p_run_done boolean
) RETURNS TABLE (transaction_id bigint, photos_charged int, credits_captured int, credits_released int,
                 balance_after bigint, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_reservation reservation%ROWTYPE;
  v_run bigint;
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
      (SELECT count(*)::int FROM photo_charge c
       WHERE c.run_sequence = (SELECT u.sequence FROM usage_run u
                               WHERE u.org_id = p_org AND u.run_id = p_run_id AND u.usage_type = v_reservation.usage_type)
         AND c.usage_transaction_id = v_reservation.usage_transaction_id),
      v_reservation.credits_captured, v_reservation.credits_reserved - v_reservation.credits_captured,
      ledger_captured_balance(v_reservation), true;
    RETURN;
  END IF;
  PERFORM ledger_require_held(v_reservation);
  SELECT u.sequence INTO v_run FROM usage_run u
    WHERE u.org_id = p_org AND u.run_id = p_run_id AND u.usage_type = v_reservation.usage_type
    FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'usage run "%" (%) not found in organisation %', p_run_id, v_reservation.usage_type, p_org USING ERRCODE = 'CR008';
  END IF;
  v_transaction := nextval('credit_transaction_id_seq');
  WITH charged AS (
    INSERT INTO photo_charge (run_sequence, photo_id, credits, usage_transaction_id)
      SELECT DISTINCT v_run, photo, p_credits_per_photo, v_transaction
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
    WHERE u.sequence = v_run;
  PERFORM ledger_lock_org(p_org);
  UPDATE reservation r SET capture_fingerprint = v_fingerprint WHERE r.id = v_reservation.id;
  RETURN QUERY SELECT v_transaction, v_charged, v_used, v_reservation.credits_reserved - v_used,
    ledger_settle_reservation(v_reservation, v_used, v_transaction), false;
END $$;

-- Marks the runs RUNNING and reads what each needs to continue. The caller
-- has locked the runs' rows; no org lock is taken. A worker sends a run's photo count and fingerprint, not its photo
-- list, which the run's row already holds: a run with no row (enqueued around
-- the producer) is answered with a NULL status, and the worker starts it again
-- with its photos, which records it.
CREATE FUNCTION metering_record_run_starts(p_runs jsonb) RETURNS metering_run_start[]
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
  v_starts metering_run_start[];
BEGIN
  WITH requests AS MATERIALIZED (
    SELECT (t.ordinality - 1)::int AS idx, (t.r->>'orgId')::uuid AS org_id, t.r->>'runId' AS run_id,
           (t.r->>'kind')::usage_type AS usage_type, (t.r->>'eventId')::int AS event_id, (t.r->>'userId')::uuid AS user_id,
           CASE WHEN t.r ? 'photoIds' THEN ARRAY(SELECT jsonb_array_elements_text(t.r->'photoIds')) END AS photo_ids,
           (t.r->>'photoCount')::int AS photo_count, t.r->>'fingerprint' AS fingerprint,
           t.r->>'holdKey' AS hold_key, (t.r->>'creditsPerPhoto')::int AS price,
           (t.r->>'segmentPhotos')::int AS segment_photos, (t.r->>'ttlMs')::int AS ttl_ms
    FROM jsonb_array_elements(p_runs) WITH ORDINALITY AS t(r, ordinality)
  ),
  recorded AS (
    INSERT INTO usage_run AS u (org_id, run_id, usage_type, event_id, user_id, photo_ids, request_fingerprint, status)
    SELECT q.org_id, q.run_id, q.usage_type, q.event_id, q.user_id, q.photo_ids, q.fingerprint, 'RUNNING' FROM requests q
    WHERE q.photo_ids IS NOT NULL
    ORDER BY q.org_id, q.run_id, q.usage_type  -- the producer writes runs in this order too
    ON CONFLICT (org_id, run_id, usage_type) DO UPDATE
      SET status = CASE WHEN u.status IN ('COMPLETED', 'FAILED') THEN u.status ELSE 'RUNNING'::usage_run_status END,
          parked_at = CASE WHEN u.status IN ('COMPLETED', 'FAILED') THEN u.parked_at END,
          updated_at = now()
    RETURNING u.org_id, u.run_id, u.usage_type, u.status, u.request_fingerprint, u.sequence, u.failed_photo_ids
  ),
  restarted AS (
    UPDATE usage_run u
    SET status = CASE WHEN u.status IN ('COMPLETED', 'FAILED') THEN u.status ELSE 'RUNNING'::usage_run_status END,
        parked_at = CASE WHEN u.status IN ('COMPLETED', 'FAILED') THEN u.parked_at END,
        updated_at = now()
    FROM (SELECT * FROM requests q WHERE q.photo_ids IS NULL ORDER BY q.org_id, q.run_id, q.usage_type) AS q
    WHERE u.org_id = q.org_id AND u.run_id = q.run_id AND u.usage_type = q.usage_type
    RETURNING u.org_id, u.run_id, u.usage_type, u.status, u.request_fingerprint, u.sequence, u.failed_photo_ids
  ),
  started AS (SELECT * FROM recorded UNION ALL SELECT * FROM restarted),
  known AS MATERIALIZED (
    SELECT q.idx, q.org_id, q.run_id, q.usage_type, q.event_id, q.user_id, q.photo_ids, q.photo_count, q.hold_key, q.price,
           q.segment_photos, q.ttl_ms, s.status, s.sequence,
           usage_run_fingerprint_digest(s.request_fingerprint) = usage_run_fingerprint_digest(q.fingerprint) AS fingerprint_matches,
           s.failed_photo_ids AS failed_ids,
           ARRAY(SELECT c.photo_id FROM photo_charge c WHERE c.run_sequence = s.sequence) AS charged_ids
    FROM requests q LEFT JOIN started s ON s.org_id = q.org_id AND s.run_id = q.run_id AND s.usage_type = q.usage_type
  )
  SELECT array_agg(ROW(k.idx, k.org_id, k.run_id, k.usage_type, k.event_id, k.user_id, k.hold_key, k.price, k.segment_photos,
                       k.ttl_ms, k.status, k.sequence, k.fingerprint_matches, k.charged_ids, k.failed_ids,
                       -- The photos neither charged nor failed, as the worker counts them. Until one is, that
                       -- is every photo of the run: the fingerprint says the worker has the same ones.
                       CASE WHEN cardinality(k.charged_ids) + cardinality(k.failed_ids) = 0
                              THEN COALESCE(cardinality(k.photo_ids), k.photo_count)
                            ELSE (SELECT count(*)::int FROM (
                                    SELECT unnest(COALESCE(k.photo_ids, (SELECT u.photo_ids FROM usage_run u
                                                                         WHERE u.org_id = k.org_id AND u.run_id = k.run_id AND u.usage_type = k.usage_type)))
                                    EXCEPT SELECT unnest(k.charged_ids || k.failed_ids)) AS p)
                       END)::metering_run_start ORDER BY k.idx)
  INTO v_starts
  FROM known k;
  RETURN COALESCE(v_starts, '{}');
END $$;

-- Holds credits for the first segment of each started run that may go on,
-- and answers every start. The caller has locked the runs' orgs.
CREATE FUNCTION metering_hold_first_segments(p_starts metering_run_start[])
RETURNS TABLE (request_index int, status usage_run_status, fingerprint_matches boolean, charged_photo_ids text[],
               failed_photo_ids text[], must_park boolean, stale_hold_keys text[],
               reservation_id bigint, credits_requested int, credits_reserved int, expires_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH known AS MATERIALIZED (
    SELECT s.*,
           EXISTS (SELECT 1 FROM organisation o WHERE o.id = s.org_id AND o.processing_state = 'PAUSED')
             OR EXISTS (SELECT 1 FROM usage_run p WHERE p.org_id = s.org_id AND p.status = 'PARKED' AND p.sequence < s.sequence)
             AS must_park,
           -- Holds are taken under the org's lock, so this is every hold the run still has.
           ARRAY(SELECT r.key FROM reservation r
                 WHERE r.org_id = s.org_id AND r.reference = s.run_id AND r.usage_type = s.usage_type AND r.status = 'HELD') AS stale_keys
    FROM unnest(p_starts) AS s
  ),
  wanted AS (
    SELECT k.*, (LEAST(k.segment_photos, k.pending_photos) * k.price)::int AS credits
    FROM known k
    WHERE k.status NOT IN ('COMPLETED', 'FAILED') AND k.fingerprint_matches AND NOT k.must_park
      AND cardinality(k.stale_keys) = 0 AND k.hold_key IS NOT NULL
  ),
  -- Greedy, oldest run first: each gets what is left after those before it.
  granted AS (
    SELECT w.*, GREATEST(0, LEAST(w.credits::bigint, o.balance_credits - o.reserved_credits
             - COALESCE(sum(w.credits) OVER (PARTITION BY w.org_id ORDER BY w.sequence ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)))::int AS granted
    FROM wanted w JOIN organisation o ON o.id = w.org_id
    WHERE w.credits > 0
  ),
  inserted AS (
    INSERT INTO reservation (org_id, key, request_fingerprint, credits_requested, credits_reserved,
                             usage_type, event_id, user_id, reference, expires_at)
    -- The fingerprint a one-by-one reservation of the same hold would carry (ledger/reserve-credits.ts).
    SELECT g.org_id, g.hold_key,
           format('["reserve",%s,%s,%s,%s,%s]', g.credits, to_json(g.usage_type), g.event_id,
                  COALESCE(to_json(g.user_id)::text, 'null'), to_json(g.run_id)),
           g.credits, g.granted, g.usage_type, g.event_id, g.user_id, g.run_id, now() + g.ttl_ms * interval '1 millisecond'
    FROM granted g
    RETURNING id, org_id, key, credits_requested, credits_reserved, expires_at
  ),
  held AS (
    UPDATE organisation o SET reserved_credits = o.reserved_credits + t.total
    FROM (SELECT i.org_id, sum(i.credits_reserved) AS total FROM inserted i GROUP BY i.org_id) AS t
    WHERE o.id = t.org_id AND t.total > 0
    RETURNING o.id
  )
  SELECT k.idx, k.status, k.fingerprint_matches, k.charged_ids, k.failed_ids, k.must_park, k.stale_keys,
         i.id, i.credits_requested, i.credits_reserved, i.expires_at
  FROM known k LEFT JOIN inserted i ON i.org_id = k.org_id AND i.key = k.hold_key;
END $$;

DROP FUNCTION metering_begin_runs(jsonb);

-- The metering workers' one statement per batch (see the top of this file):
-- captures' fences and run rows, runs started, then their orgs locked in id
-- order, captures charged, and the started runs' first holds, which see the
-- credits the captures released.
CREATE OR REPLACE FUNCTION metering_settle_and_begin(p_captures jsonb, p_runs jsonb)
RETURNS TABLE (part text, request_index int,
               transaction_id bigint, photos_charged int, credits_captured int, credits_released int,
               balance_after bigint, replayed boolean,
               status usage_run_status, fingerprint_matches boolean, charged_photo_ids text[], failed_photo_ids text[],
               must_park boolean, stale_hold_keys text[], reservation_id bigint, credits_requested int,
               credits_reserved int, expires_at timestamptz)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
  v_captures boolean := jsonb_array_length(p_captures) > 0;
  v_runs boolean := jsonb_array_length(p_runs) > 0;
  v_fenced ledger_fenced_capture[];
  v_starts metering_run_start[];
  v_capture_orgs uuid[] := ARRAY(SELECT DISTINCT (r->>'orgId')::uuid FROM jsonb_array_elements(p_captures) AS r);
BEGIN
  PERFORM ledger_lock_holds(p_captures);
  PERFORM metering_lock_runs(p_captures || p_runs);
  IF v_captures THEN
    v_fenced := ledger_fence_photo_captures(p_captures);
  END IF;
  IF v_runs THEN
    v_starts := metering_record_run_starts(p_runs);
  END IF;
  PERFORM 1 FROM organisation o
    WHERE o.id = ANY (v_capture_orgs) OR o.id IN (SELECT (r->>'orgId')::uuid FROM jsonb_array_elements(p_runs) AS r)
    ORDER BY o.id FOR NO KEY UPDATE;
  IF v_captures THEN
    PERFORM 1 FROM credit_lot l WHERE l.org_id = ANY (v_capture_orgs) AND l.is_open ORDER BY l.id FOR NO KEY UPDATE;
    RETURN QUERY
    SELECT 'capture', c.request_index, c.transaction_id, c.photos_charged, c.credits_captured, c.credits_released,
           c.balance_after, c.replayed, NULL::usage_run_status, NULL::boolean, NULL::text[], NULL::text[], NULL::boolean,
           NULL::text[], NULL::bigint, NULL::int, NULL::int, NULL::timestamptz
    FROM ledger_settle_photo_captures(p_captures, v_fenced) AS c;
  END IF;
  IF v_runs THEN
    RETURN QUERY
    SELECT 'begin', b.request_index, NULL::bigint, NULL::int, NULL::int, NULL::int, NULL::bigint, NULL::boolean,
           b.status, b.fingerprint_matches, b.charged_photo_ids, b.failed_photo_ids, b.must_park, b.stale_hold_keys,
           b.reservation_id, b.credits_requested, b.credits_reserved, b.expires_at
    FROM metering_hold_first_segments(v_starts) AS b;
  END IF;
END $$;
