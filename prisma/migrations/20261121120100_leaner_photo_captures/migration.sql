-- Photo captures, leaner per photo:
-- * A batch writes its fence rows with a plain insert (see the fence below);
--   a capture on its own still skips photos already charged.
-- * A batch fingerprints the JSON photo lists it was sent: the same text, so
--   the same digest, as ledger_photo_capture_fingerprint gives a capture on
--   its own (a replay through either path still matches), without two array
--   copies of every capture's photos.
-- * Every photo charged wrote an entry in an index on its Usage transaction,
--   read only when a capture is replayed, to count the photos it charged. A
--   replay now counts them within the run (the primary key's prefix), and
--   the index goes.
DROP INDEX "photo_charge_usage_transaction_id_idx";

CREATE OR REPLACE FUNCTION ledger_capture_photos(
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
      (SELECT count(*)::int FROM photo_charge c
       WHERE c.org_id = p_org AND c.run_id = p_run_id AND c.usage_type = v_reservation.usage_type
         AND c.usage_transaction_id = v_reservation.usage_transaction_id),
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

CREATE OR REPLACE FUNCTION ledger_capture_photos_many(p_requests jsonb)
RETURNS TABLE (request_index int, transaction_id bigint, photos_charged int, credits_captured int,
               credits_released int, balance_after bigint, replayed boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_requests int := jsonb_array_length(p_requests);
  v_orgs uuid[];
  v_settleable int;
  v_conflicting int;
BEGIN
  -- Lock order as everywhere: reservations, then organisations, then lots.
  WITH requests AS (
    SELECT (r->>'orgId')::uuid AS org_id, r->>'key' AS key, r FROM jsonb_array_elements(p_requests) AS r
  ),
  locked AS (
    SELECT q.r, x.status, x.capture_fingerprint
    FROM (SELECT * FROM requests ORDER BY org_id, key) AS q
    CROSS JOIN LATERAL (
      SELECT x.status, x.capture_fingerprint FROM reservation x
      WHERE x.org_id = q.org_id AND x.key = q.key LIMIT 1 FOR UPDATE
    ) AS x
  )
  SELECT count(*) FILTER (WHERE l.status IN ('HELD', 'CAPTURED')),
         count(*) FILTER (WHERE l.status = 'CAPTURED' AND l.capture_fingerprint IS DISTINCT FROM ledger_photo_capture_fingerprint(
           l.r->>'runId', (l.r->>'creditsPerPhoto')::int, ARRAY(SELECT jsonb_array_elements_text(l.r->'photoIds')),
           ARRAY(SELECT jsonb_array_elements_text(l.r->'failedPhotoIds')), (l.r->>'runDone')::boolean))
  INTO v_settleable, v_conflicting
  FROM locked l;
  IF v_settleable <> v_requests OR v_conflicting > 0
     OR (SELECT count(DISTINCT (r->>'orgId', r->>'key')) FROM jsonb_array_elements(p_requests) AS r) <> v_requests
     OR (SELECT count(DISTINCT (r->>'orgId', r->>'runId')) FROM jsonb_array_elements(p_requests) AS r) <> v_requests THEN
    RAISE EXCEPTION 'capture batch needs one-by-one handling' USING ERRCODE = 'CR010';
  END IF;
  v_orgs := ARRAY(SELECT DISTINCT (r->>'orgId')::uuid FROM jsonb_array_elements(p_requests) AS r);
  PERFORM 1 FROM organisation o WHERE o.id = ANY (v_orgs) ORDER BY o.id FOR NO KEY UPDATE;
  PERFORM 1 FROM credit_lot l WHERE l.org_id = ANY (v_orgs) AND l.remaining_credits > 0 ORDER BY l.id FOR NO KEY UPDATE;

  RETURN QUERY
  WITH requests AS MATERIALIZED (
    SELECT (t.ordinality - 1)::int AS idx, (t.r->>'orgId')::uuid AS org_id, t.r->>'key' AS key, t.r->>'runId' AS run_id,
           (t.r->>'creditsPerPhoto')::int AS price, t.r->'photoIds' AS photo_ids,
           ARRAY(SELECT jsonb_array_elements_text(t.r->'failedPhotoIds')) AS failed_ids, (t.r->>'runDone')::boolean AS run_done,
           md5(jsonb_build_array(t.r->>'runId', (t.r->>'creditsPerPhoto')::int, t.r->'photoIds', COALESCE(t.r->'failedPhotoIds', '[]'),
             (t.r->>'runDone')::boolean)::text) AS capture_fingerprint
    FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS t(r, ordinality)
  ),
  reservations AS MATERIALIZED (
    SELECT q.*, x.id AS reservation_id, x.status, x.usage_type, x.event_id, x.user_id, x.reference, x.request_fingerprint,
           x.credits_reserved, x.credits_captured, x.usage_transaction_id
    FROM requests q
    CROSS JOIN LATERAL (SELECT x.* FROM reservation x WHERE x.org_id = q.org_id AND x.key = q.key LIMIT 1) AS x
  ),
  held AS MATERIALIZED (
    SELECT r.idx, r.org_id, r.key, r.run_id, r.price, r.photo_ids, r.failed_ids, r.run_done, r.capture_fingerprint,
           r.reservation_id, r.usage_type, r.event_id, r.user_id, r.reference, r.request_fingerprint, r.credits_reserved,
           nextval('credit_transaction_id_seq') AS tx
    FROM reservations r WHERE r.status = 'HELD'
  ),
  -- The fence. A batch charges photos that no one has charged yet, so a plain
  -- insert: a photo already charged (a retry, a duplicate job) makes it fail
  -- on the primary key, and its captures are then sent one by one, where the
  -- single capture skips that photo. Checking every photo for a conflict first
  -- would cost each batch about a third more.
  charged AS (
    INSERT INTO photo_charge (org_id, run_id, usage_type, photo_id, credits, usage_transaction_id)
    SELECT h.org_id, h.run_id, h.usage_type, p.photo, h.price, h.tx
    FROM held h, jsonb_array_elements_text(h.photo_ids) AS p(photo)
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
  SELECT r.idx, r.usage_transaction_id,
         (SELECT count(*)::int FROM photo_charge c
          WHERE c.org_id = r.org_id AND c.run_id = r.run_id AND c.usage_type = x.usage_type
            AND c.usage_transaction_id = r.usage_transaction_id),
         r.credits_captured, r.credits_reserved - r.credits_captured, ledger_captured_balance(x), true
  FROM reservations r JOIN reservation x ON x.id = r.reservation_id
  WHERE r.status = 'CAPTURED';

  -- A capture above its hold is refused by the reservation's CHECK; lots that
  -- hold less than the balance would leave usage undrawn: refuse that too.
  IF EXISTS (SELECT 1 FROM organisation o WHERE o.id = ANY (v_orgs) AND o.balance_credits <>
               (SELECT COALESCE(sum(l.remaining_credits), 0) FROM credit_lot l WHERE l.org_id = o.id AND l.remaining_credits > 0)) THEN
    RAISE EXCEPTION 'lots of an organisation in this batch no longer add up to its balance' USING ERRCODE = 'CR900';
  END IF;
END $$;
