-- CreateEnum
CREATE TYPE "usage_run_status" AS ENUM ('QUEUED', 'RUNNING', 'PARKED', 'COMPLETED', 'FAILED');

-- AlterTable
ALTER TABLE "organisation" ADD COLUMN     "paused_after_transaction_id" BIGINT,
ADD COLUMN     "paused_at" TIMESTAMPTZ(3);

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

-- AddForeignKey
ALTER TABLE "photo_charge" ADD CONSTRAINT "photo_charge_org_id_run_id_usage_type_fkey" FOREIGN KEY ("org_id", "run_id", "usage_type") REFERENCES "usage_run"("org_id", "run_id", "usage_type") ON DELETE RESTRICT ON UPDATE CASCADE;


-- ---------------------------------------------------------------------------
-- Metering: per-photo charges as the exactly-once fence, and batched ledger
-- calls for the hot path.
-- ---------------------------------------------------------------------------

ALTER TABLE "photo_charge"
  ADD CONSTRAINT "photo_charge_credits_positive" CHECK ("credits" > 0),
  -- Deferred: a capture writes the charges before the Usage transaction, whose
  -- balance is only known once the org row is locked.
  ADD CONSTRAINT "photo_charge_usage_transaction_fkey" FOREIGN KEY ("usage_transaction_id")
    REFERENCES "credit_transaction" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE TRIGGER photo_charge_append_only BEFORE UPDATE OR DELETE ON "photo_charge"
  FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER photo_charge_no_truncate BEFORE TRUNCATE ON "photo_charge"
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();

ALTER TABLE "usage_run"
  ADD CONSTRAINT "usage_run_photo_count" CHECK (cardinality("photo_ids") BETWEEN 1 AND 10000);
CREATE INDEX "usage_run_parked_idx" ON "usage_run" ("org_id", "sequence") WHERE "status" = 'PARKED';
CREATE INDEX "organisation_paused_idx" ON "organisation" ("id") WHERE "processing_state" = 'PAUSED';
CREATE INDEX "reservation_reference_held_idx" ON "reservation" ("org_id", "reference") WHERE "status" = 'HELD';

-- Settles a HELD reservation that the caller has locked: charges p_credits_used
-- (as transaction p_transaction) and gives back the rest of the hold.
CREATE FUNCTION ledger_settle_reservation(p_reservation reservation, p_credits_used int, p_transaction bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_balance bigint;
BEGIN
  UPDATE reservation r
    SET status = 'CAPTURED', credits_captured = p_credits_used, usage_transaction_id = p_transaction, settled_at = now()
    WHERE r.id = p_reservation.id;
  UPDATE organisation
    SET balance_credits = balance_credits - p_credits_used,
        reserved_credits = reserved_credits - p_reservation.credits_reserved
    WHERE id = p_reservation.org_id
    RETURNING balance_credits INTO v_balance;
  IF p_credits_used > 0 THEN
    INSERT INTO credit_transaction (id, org_id, type, usage_type, credits, event_id, user_id, balance_after,
                                    idempotency_key, request_fingerprint, reference)
      VALUES (p_transaction, p_reservation.org_id, 'USAGE', p_reservation.usage_type, -p_credits_used,
              p_reservation.event_id, p_reservation.user_id, v_balance, 'capture:' || p_reservation.key,
              p_reservation.request_fingerprint, p_reservation.reference);
    PERFORM ledger_consume_lots(p_reservation.org_id, p_transaction, p_credits_used);
  END IF;
  RETURN v_balance;
END $$;

CREATE OR REPLACE FUNCTION ledger_capture(p_org uuid, p_key text, p_credits_used int)
RETURNS TABLE (transaction_id bigint, credits_captured int, credits_released int, balance_after bigint, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_reservation reservation%ROWTYPE;
  v_transaction bigint;
BEGIN
  SELECT * INTO v_reservation FROM reservation r WHERE r.org_id = p_org AND r.key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'reservation "%" not found', p_key USING ERRCODE = 'CR003';
  END IF;
  IF v_reservation.status = 'CAPTURED' THEN
    IF v_reservation.credits_captured <> p_credits_used THEN
      RAISE EXCEPTION 'reservation "%" was already captured with % credits, not %', p_key,
        v_reservation.credits_captured, p_credits_used USING ERRCODE = 'CR002';
    END IF;
    RETURN QUERY SELECT v_reservation.usage_transaction_id, v_reservation.credits_captured,
      v_reservation.credits_reserved - v_reservation.credits_captured,
      COALESCE((SELECT t.balance_after FROM credit_transaction t WHERE t.id = v_reservation.usage_transaction_id),
               (SELECT o.balance_credits FROM organisation o WHERE o.id = p_org)),
      true;
    RETURN;
  END IF;
  IF v_reservation.status <> 'HELD' THEN
    RAISE EXCEPTION 'reservation "%" is % and can no longer be captured', p_key, lower(v_reservation.status::text)
      USING ERRCODE = 'CR004';
  END IF;
  IF p_credits_used > v_reservation.credits_reserved THEN
    RAISE EXCEPTION 'cannot capture % credits: reservation "%" holds %', p_credits_used, p_key,
      v_reservation.credits_reserved USING ERRCODE = 'CR005';
  END IF;
  IF p_credits_used > 0 THEN
    v_transaction := nextval(pg_get_serial_sequence('credit_transaction', 'id'));
  END IF;
  RETURN QUERY SELECT v_transaction, p_credits_used, v_reservation.credits_reserved - p_credits_used,
    ledger_settle_reservation(v_reservation, p_credits_used, v_transaction), false;
END $$;

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
BEGIN
  SELECT * INTO v_reservation FROM reservation r WHERE r.org_id = p_org AND r.key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'reservation "%" not found', p_key USING ERRCODE = 'CR003';
  END IF;
  IF v_reservation.status = 'CAPTURED' THEN
    RETURN QUERY SELECT v_reservation.usage_transaction_id,
      (SELECT count(*)::int FROM photo_charge c WHERE c.usage_transaction_id = v_reservation.usage_transaction_id),
      v_reservation.credits_captured, v_reservation.credits_reserved - v_reservation.credits_captured,
      COALESCE((SELECT t.balance_after FROM credit_transaction t WHERE t.id = v_reservation.usage_transaction_id),
               (SELECT o.balance_credits FROM organisation o WHERE o.id = p_org)),
      true;
    RETURN;
  END IF;
  IF v_reservation.status <> 'HELD' THEN
    RAISE EXCEPTION 'reservation "%" is % and can no longer be captured', p_key, lower(v_reservation.status::text)
      USING ERRCODE = 'CR004';
  END IF;
  v_transaction := nextval(pg_get_serial_sequence('credit_transaction', 'id'));
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

-- Batches for the hot path: many requests, one statement, one commit. Callers
-- order requests by organisation so that concurrent batches lock orgs in one order.
CREATE FUNCTION ledger_reserve_many(p_requests jsonb)
RETURNS TABLE (request_index int, reservation_id bigint, credits_reserved int, status reservation_status,
               expires_at timestamptz, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_request jsonb;
  v_index int;
BEGIN
  FOR v_request, v_index IN SELECT value, ordinality::int - 1 FROM jsonb_array_elements(p_requests) WITH ORDINALITY LOOP
    RETURN QUERY SELECT v_index, x.* FROM ledger_reserve(
      (v_request->>'orgId')::uuid, v_request->>'key', v_request->>'fingerprint', (v_request->>'credits')::int,
      (v_request->>'usageType')::usage_type, (v_request->>'eventId')::int, (v_request->>'userId')::uuid,
      v_request->>'reference', (v_request->>'ttlMs')::int) AS x;
  END LOOP;
END $$;

CREATE FUNCTION ledger_capture_photos_many(p_requests jsonb)
RETURNS TABLE (request_index int, transaction_id bigint, photos_charged int, credits_captured int,
               credits_released int, balance_after bigint, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_request jsonb;
  v_index int;
BEGIN
  FOR v_request, v_index IN SELECT value, ordinality::int - 1 FROM jsonb_array_elements(p_requests) WITH ORDINALITY LOOP
    RETURN QUERY SELECT v_index, x.* FROM ledger_capture_photos(
      (v_request->>'orgId')::uuid, v_request->>'key', v_request->>'runId',
      ARRAY(SELECT jsonb_array_elements_text(v_request->'photoIds')), (v_request->>'creditsPerPhoto')::int,
      ARRAY(SELECT jsonb_array_elements_text(v_request->'failedPhotoIds')), (v_request->>'runDone')::boolean) AS x;
  END LOOP;
END $$;

ALTER TABLE "usage_run" ADD CONSTRAINT "usage_run_user_fkey" FOREIGN KEY ("org_id", "user_id") REFERENCES "app_user" ("org_id", "id");

-- Starts (or restarts) usage runs for the metering workers, many per call:
-- records each run (idempotently, by org, run id and usage type) as RUNNING
-- unless it is finished, and says what the worker needs to continue it.
CREATE FUNCTION metering_start_runs(p_runs jsonb)
RETURNS TABLE (request_index int, status usage_run_status, fingerprint_matches boolean, charged_photo_ids text[],
               failed_photo_ids text[], must_park boolean, stale_hold_keys text[])
LANGUAGE plpgsql AS $$
DECLARE
  v_run jsonb;
  v_index int;
  v_row usage_run%ROWTYPE;
BEGIN
  FOR v_run, v_index IN SELECT value, ordinality::int - 1 FROM jsonb_array_elements(p_runs) WITH ORDINALITY LOOP
    INSERT INTO usage_run AS u (org_id, run_id, usage_type, event_id, user_id, photo_ids, request_fingerprint, status)
      VALUES ((v_run->>'orgId')::uuid, v_run->>'runId', (v_run->>'kind')::usage_type, (v_run->>'eventId')::int,
              (v_run->>'userId')::uuid, ARRAY(SELECT jsonb_array_elements_text(v_run->'photoIds')),
              v_run->>'fingerprint', 'RUNNING')
      ON CONFLICT (org_id, run_id, usage_type) DO UPDATE
        SET status = CASE WHEN u.status IN ('COMPLETED', 'FAILED') THEN u.status ELSE 'RUNNING'::usage_run_status END,
            parked_at = CASE WHEN u.status IN ('COMPLETED', 'FAILED') THEN u.parked_at END,
            updated_at = now()
      RETURNING * INTO v_row;
    RETURN QUERY SELECT v_index, v_row.status, v_row.request_fingerprint = v_run->>'fingerprint',
      ARRAY(SELECT c.photo_id FROM photo_charge c
            WHERE c.org_id = v_row.org_id AND c.run_id = v_row.run_id AND c.usage_type = v_row.usage_type),
      v_row.failed_photo_ids,
      EXISTS (SELECT 1 FROM organisation o WHERE o.id = v_row.org_id AND o.processing_state = 'PAUSED')
        OR EXISTS (SELECT 1 FROM usage_run p WHERE p.org_id = v_row.org_id AND p.status = 'PARKED' AND p.sequence < v_row.sequence),
      ARRAY(SELECT r.key FROM reservation r
            WHERE r.org_id = v_row.org_id AND r.reference = v_row.run_id AND r.usage_type = v_row.usage_type AND r.status = 'HELD');
  END LOOP;
END $$;
