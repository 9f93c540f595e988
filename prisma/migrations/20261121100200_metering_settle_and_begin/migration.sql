-- The metering workers' one statement per batch: charges the photos of the
-- segments that concurrent jobs have processed and starts the runs that jobs
-- have just picked up, holding credits for their first segments, in one
-- transaction. One round trip, one commit and one lock of each org per batch,
-- where two transactions of a batch each would queue on the same org rows.
--
-- Lock order as everywhere: the captures' reservations, then every org of the
-- batch in id order (captures' and starts' together, so the start part never
-- takes an org lock while holding a higher one), then lots.
CREATE FUNCTION metering_settle_and_begin(p_captures jsonb, p_runs jsonb)
RETURNS TABLE (part text, request_index int,
               transaction_id bigint, photos_charged int, credits_captured int, credits_released int,
               balance_after bigint, replayed boolean,
               status usage_run_status, fingerprint_matches boolean, charged_photo_ids text[], failed_photo_ids text[],
               must_park boolean, stale_hold_keys text[], reservation_id bigint, credits_requested int,
               credits_reserved int, expires_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  PERFORM 1
  FROM (SELECT (r->>'orgId')::uuid AS org_id, r->>'key' AS key FROM jsonb_array_elements(p_captures) AS r ORDER BY 1, 2) AS q
  CROSS JOIN LATERAL (SELECT 1 FROM reservation x WHERE x.org_id = q.org_id AND x.key = q.key LIMIT 1 FOR UPDATE) AS x;
  PERFORM 1 FROM organisation o
    WHERE o.id IN (SELECT (r->>'orgId')::uuid FROM jsonb_array_elements(p_captures) AS r
                   UNION SELECT (r->>'orgId')::uuid FROM jsonb_array_elements(p_runs) AS r)
    ORDER BY o.id FOR NO KEY UPDATE;
  IF jsonb_array_length(p_captures) > 0 THEN
    RETURN QUERY
    SELECT 'capture', c.request_index, c.transaction_id, c.photos_charged, c.credits_captured, c.credits_released,
           c.balance_after, c.replayed, NULL::usage_run_status, NULL::boolean, NULL::text[], NULL::text[], NULL::boolean,
           NULL::text[], NULL::bigint, NULL::int, NULL::int, NULL::timestamptz
    FROM ledger_capture_photos_many(p_captures) AS c;
  END IF;
  -- Runs start after the captures, so their holds see the credits those released.
  IF jsonb_array_length(p_runs) > 0 THEN
    RETURN QUERY
    SELECT 'begin', b.request_index, NULL::bigint, NULL::int, NULL::int, NULL::int, NULL::bigint, NULL::boolean,
           b.status, b.fingerprint_matches, b.charged_photo_ids, b.failed_photo_ids, b.must_park, b.stale_hold_keys,
           b.reservation_id, b.credits_requested, b.credits_reserved, b.expires_at
    FROM metering_begin_runs(p_runs) AS b;
  END IF;
END $$;
