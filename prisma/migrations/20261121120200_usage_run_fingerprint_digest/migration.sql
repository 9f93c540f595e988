-- A run's fingerprint was the JSON of its event, user and photo list: up to
-- 10,000 photo ids a second time in the row (which then went to TOAST) and in
-- every run start. It is now that JSON's SHA-256, as the producer computes it
-- (workers/metering-queues.ts).
--
-- Both forms compare equal, the digest and the JSON it is the digest of: the
-- runs recorded before are converted below, and while producers and workers
-- of the previous release still run beside the new ones (a rolling deploy),
-- they write and send the JSON form; a run they record or start must not look
-- like another run with the same id.
CREATE FUNCTION usage_run_fingerprint_digest(p_fingerprint text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_fingerprint LIKE 'sha256:%' THEN p_fingerprint
              ELSE 'sha256:' || encode(sha256(convert_to(p_fingerprint, 'UTF8')), 'hex') END;
$$;

CREATE OR REPLACE FUNCTION metering_begin_runs(p_runs jsonb)
RETURNS TABLE (request_index int, status usage_run_status, fingerprint_matches boolean, charged_photo_ids text[],
               failed_photo_ids text[], must_park boolean, stale_hold_keys text[],
               reservation_id bigint, credits_requested int, credits_reserved int, expires_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  -- Orgs first, in id order, as every batch locks them: the holds below are
  -- then taken against balances no one else is changing.
  PERFORM 1 FROM organisation o
    WHERE o.id IN (SELECT (r->>'orgId')::uuid FROM jsonb_array_elements(p_runs) AS r)
    ORDER BY o.id FOR NO KEY UPDATE;
  RETURN QUERY
  WITH requests AS MATERIALIZED (
    SELECT (t.ordinality - 1)::int AS idx, (t.r->>'orgId')::uuid AS org_id, t.r->>'runId' AS run_id,
           (t.r->>'kind')::usage_type AS usage_type, (t.r->>'eventId')::int AS event_id, (t.r->>'userId')::uuid AS user_id,
           ARRAY(SELECT jsonb_array_elements_text(t.r->'photoIds')) AS photo_ids, t.r->>'fingerprint' AS fingerprint,
           t.r->>'holdKey' AS hold_key, (t.r->>'creditsPerPhoto')::int AS price,
           (t.r->>'segmentPhotos')::int AS segment_photos, (t.r->>'ttlMs')::int AS ttl_ms
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
  ),
  known AS MATERIALIZED (
    SELECT q.idx, q.org_id, q.run_id, q.usage_type, q.event_id, q.user_id, q.photo_ids, q.hold_key, q.price,
           q.segment_photos, q.ttl_ms, s.status, s.sequence, usage_run_fingerprint_digest(s.request_fingerprint) = usage_run_fingerprint_digest(q.fingerprint) AS fingerprint_matches,
           s.failed_photo_ids AS failed_ids,
           ARRAY(SELECT c.photo_id FROM photo_charge c
                 WHERE c.org_id = s.org_id AND c.run_id = s.run_id AND c.usage_type = s.usage_type) AS charged_ids,
           EXISTS (SELECT 1 FROM organisation o WHERE o.id = s.org_id AND o.processing_state = 'PAUSED')
             OR EXISTS (SELECT 1 FROM usage_run p WHERE p.org_id = s.org_id AND p.status = 'PARKED' AND p.sequence < s.sequence)
             AS must_park,
           ARRAY(SELECT r.key FROM reservation r
                 WHERE r.org_id = s.org_id AND r.reference = s.run_id AND r.usage_type = s.usage_type AND r.status = 'HELD') AS stale_keys
    FROM requests q JOIN started s ON s.org_id = q.org_id AND s.run_id = q.run_id AND s.usage_type = q.usage_type
  ),
  -- The first segment: the next photos neither charged nor failed, as the worker counts them.
  wanted AS (
    SELECT k.*, (LEAST(k.segment_photos::bigint,
                       CASE WHEN cardinality(k.charged_ids) + cardinality(k.failed_ids) = 0 THEN cardinality(k.photo_ids)
                            ELSE (SELECT count(*) FROM (SELECT unnest(k.photo_ids) EXCEPT SELECT unnest(k.charged_ids || k.failed_ids)) AS p)
                       END)
                 * k.price)::int AS credits
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

UPDATE "usage_run"
SET "request_fingerprint" = usage_run_fingerprint_digest("request_fingerprint")
WHERE "request_fingerprint" NOT LIKE 'sha256:%';
