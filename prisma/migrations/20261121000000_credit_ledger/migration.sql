-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "processing_state" AS ENUM ('ACTIVE', 'PAUSED');

-- CreateEnum
CREATE TYPE "user_role" AS ENUM ('ADMIN', 'OPERATOR');

-- CreateEnum
CREATE TYPE "credit_transaction_type" AS ENUM ('USAGE', 'PURCHASE', 'ADMIN_GRANT', 'FREE_CREDITS', 'REFUND');

-- CreateEnum
CREATE TYPE "usage_type" AS ENUM ('PHOTO_PROCESSING', 'AI_IMAGE_ROTATION');

-- CreateEnum
CREATE TYPE "reservation_status" AS ENUM ('HELD', 'CAPTURED', 'RELEASED', 'EXPIRED');

-- CreateTable
CREATE TABLE "organisation" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "name" TEXT NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "cost_per_credit" DECIMAL(18,6),
    "time_zone" TEXT NOT NULL,
    "balance_credits" BIGINT NOT NULL DEFAULT 0,
    "reserved_credits" BIGINT NOT NULL DEFAULT 0,
    "processing_state" "processing_state" NOT NULL DEFAULT 'ACTIVE',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "organisation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "app_user" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "org_id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "role" "user_role" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "app_user_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "event" (
    "id" SERIAL NOT NULL,
    "org_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "credit_transaction" (
    "id" BIGSERIAL NOT NULL,
    "org_id" UUID NOT NULL,
    "type" "credit_transaction_type" NOT NULL,
    "usage_type" "usage_type",
    "credits" INTEGER NOT NULL,
    "event_id" INTEGER,
    "user_id" UUID,
    "balance_after" BIGINT NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "request_fingerprint" TEXT NOT NULL,
    "reference" TEXT,
    "refund_of_id" BIGINT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "credit_transaction_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "credit_lot" (
    "id" BIGSERIAL NOT NULL,
    "org_id" UUID NOT NULL,
    "transaction_id" BIGINT NOT NULL,
    "source" "credit_transaction_type" NOT NULL,
    "credits" BIGINT NOT NULL,
    "remaining_credits" BIGINT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "credit_lot_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "lot_movement" (
    "id" BIGSERIAL NOT NULL,
    "lot_id" BIGINT NOT NULL,
    "transaction_id" BIGINT NOT NULL,
    "credits" INTEGER NOT NULL,

    CONSTRAINT "lot_movement_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "reservation" (
    "id" BIGSERIAL NOT NULL,
    "org_id" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "request_fingerprint" TEXT NOT NULL,
    "credits_requested" INTEGER NOT NULL,
    "credits_reserved" INTEGER NOT NULL DEFAULT 0,
    "credits_captured" INTEGER,
    "status" "reservation_status" NOT NULL DEFAULT 'HELD',
    "usage_type" "usage_type" NOT NULL,
    "event_id" INTEGER NOT NULL,
    "user_id" UUID,
    "reference" TEXT,
    "usage_transaction_id" BIGINT,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "settled_at" TIMESTAMPTZ(3),

    CONSTRAINT "reservation_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "app_user_org_id_email_key" ON "app_user"("org_id", "email");

-- CreateIndex
CREATE UNIQUE INDEX "app_user_org_id_id_key" ON "app_user"("org_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "event_org_id_id_key" ON "event"("org_id", "id");

-- CreateIndex
CREATE INDEX "credit_transaction_org_id_type_id_idx" ON "credit_transaction"("org_id", "type", "id" DESC);

-- CreateIndex
CREATE INDEX "credit_transaction_org_id_created_at_idx" ON "credit_transaction"("org_id", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "credit_transaction_org_id_idempotency_key_key" ON "credit_transaction"("org_id", "idempotency_key");

-- CreateIndex
CREATE UNIQUE INDEX "credit_lot_transaction_id_key" ON "credit_lot"("transaction_id");

-- CreateIndex
CREATE INDEX "lot_movement_lot_id_idx" ON "lot_movement"("lot_id");

-- CreateIndex
CREATE INDEX "lot_movement_transaction_id_idx" ON "lot_movement"("transaction_id");

-- CreateIndex
CREATE INDEX "reservation_status_expires_at_idx" ON "reservation"("status", "expires_at");

-- CreateIndex
CREATE UNIQUE INDEX "reservation_org_id_key_key" ON "reservation"("org_id", "key");

-- AddForeignKey
ALTER TABLE "app_user" ADD CONSTRAINT "app_user_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organisation"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "event" ADD CONSTRAINT "event_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organisation"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "credit_transaction" ADD CONSTRAINT "credit_transaction_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organisation"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "credit_transaction" ADD CONSTRAINT "credit_transaction_org_id_event_id_fkey" FOREIGN KEY ("org_id", "event_id") REFERENCES "event"("org_id", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "credit_transaction" ADD CONSTRAINT "credit_transaction_org_id_user_id_fkey" FOREIGN KEY ("org_id", "user_id") REFERENCES "app_user"("org_id", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "credit_transaction" ADD CONSTRAINT "credit_transaction_refund_of_id_fkey" FOREIGN KEY ("refund_of_id") REFERENCES "credit_transaction"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "credit_lot" ADD CONSTRAINT "credit_lot_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organisation"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "credit_lot" ADD CONSTRAINT "credit_lot_transaction_id_fkey" FOREIGN KEY ("transaction_id") REFERENCES "credit_transaction"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "lot_movement" ADD CONSTRAINT "lot_movement_lot_id_fkey" FOREIGN KEY ("lot_id") REFERENCES "credit_lot"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "lot_movement" ADD CONSTRAINT "lot_movement_transaction_id_fkey" FOREIGN KEY ("transaction_id") REFERENCES "credit_transaction"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reservation" ADD CONSTRAINT "reservation_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organisation"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reservation" ADD CONSTRAINT "reservation_org_id_event_id_fkey" FOREIGN KEY ("org_id", "event_id") REFERENCES "event"("org_id", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reservation" ADD CONSTRAINT "reservation_org_id_user_id_fkey" FOREIGN KEY ("org_id", "user_id") REFERENCES "app_user"("org_id", "id") ON DELETE RESTRICT ON UPDATE CASCADE;


-- ---------------------------------------------------------------------------
-- What Prisma's schema cannot say: invariants, append-only ledger, and the
-- ledger operations as functions so that each is one round trip.
-- Lock order everywhere: reservation row, then organisation row, then lots.
-- The organisation row is the hot one. Functions lock it before inserting rows
-- that reference it (so their foreign-key checks add no lockers to it), and
-- FOR NO KEY UPDATE, so creating an event or a user for the org is not blocked.
-- ---------------------------------------------------------------------------

ALTER TABLE "organisation"
  ADD CONSTRAINT "organisation_balance_not_negative" CHECK ("balance_credits" >= 0),
  ADD CONSTRAINT "organisation_reserved_within_balance" CHECK ("reserved_credits" >= 0 AND "reserved_credits" <= "balance_credits"),
  ADD CONSTRAINT "organisation_currency_iso" CHECK ("currency" ~ '^[A-Z]{3}$'),
  ADD CONSTRAINT "organisation_cost_per_credit_positive" CHECK ("cost_per_credit" IS NULL OR "cost_per_credit" > 0);

ALTER TABLE "credit_transaction"
  ADD CONSTRAINT "credit_transaction_sign" CHECK (
    ("type" = 'USAGE' AND "credits" < 0 AND "usage_type" IS NOT NULL AND "event_id" IS NOT NULL)
    OR ("type" <> 'USAGE' AND "credits" > 0)),
  ADD CONSTRAINT "credit_transaction_refund_has_origin" CHECK (("type" = 'REFUND') = ("refund_of_id" IS NOT NULL)),
  ADD CONSTRAINT "credit_transaction_balance_after_not_negative" CHECK ("balance_after" >= 0);

ALTER TABLE "credit_lot"
  ADD CONSTRAINT "credit_lot_remaining_within_credits" CHECK ("remaining_credits" >= 0 AND "remaining_credits" <= "credits"),
  ADD CONSTRAINT "credit_lot_source" CHECK ("source" IN ('PURCHASE', 'ADMIN_GRANT', 'FREE_CREDITS'));

ALTER TABLE "lot_movement"
  ADD CONSTRAINT "lot_movement_not_zero" CHECK ("credits" <> 0);

ALTER TABLE "reservation"
  ADD CONSTRAINT "reservation_credits" CHECK (
    "credits_requested" > 0
    AND "credits_reserved" >= 0 AND "credits_reserved" <= "credits_requested"
    AND ("credits_captured" IS NULL OR ("credits_captured" >= 0 AND "credits_captured" <= "credits_reserved")));

CREATE INDEX "credit_transaction_refund_of_id_idx" ON "credit_transaction" ("refund_of_id") WHERE "refund_of_id" IS NOT NULL;
CREATE INDEX "credit_lot_open_idx" ON "credit_lot" ("org_id", "id") WHERE "remaining_credits" > 0;

-- Append-only: the ledger and the lot movements refuse UPDATE, DELETE and TRUNCATE.
CREATE FUNCTION refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'CR100';
END $$;

CREATE TRIGGER credit_transaction_append_only BEFORE UPDATE OR DELETE ON "credit_transaction"
  FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER credit_transaction_no_truncate BEFORE TRUNCATE ON "credit_transaction"
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER lot_movement_append_only BEFORE UPDATE OR DELETE ON "lot_movement"
  FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER lot_movement_no_truncate BEFORE TRUNCATE ON "lot_movement"
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();

-- Error codes raised below (class CR) are mapped to typed errors in ledger/ledger-error.ts.

-- Consumes p_credits from the org's open lots, oldest first. The caller holds
-- the organisation row lock, so lots change under one writer per org.
CREATE FUNCTION ledger_consume_lots(p_org uuid, p_transaction bigint, p_credits int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_left int := p_credits;
  v_take int;
  v_lot record;
  v_lot_id bigint;
BEGIN
  -- Fast path: the oldest open lot covers the whole usage.
  UPDATE credit_lot SET remaining_credits = remaining_credits - p_credits
    WHERE id = (SELECT id FROM credit_lot WHERE org_id = p_org AND remaining_credits > 0 ORDER BY id LIMIT 1)
      AND remaining_credits >= p_credits
    RETURNING id INTO v_lot_id;
  IF FOUND THEN
    INSERT INTO lot_movement (lot_id, transaction_id, credits) VALUES (v_lot_id, p_transaction, -p_credits);
    RETURN;
  END IF;
  FOR v_lot IN
    SELECT id, remaining_credits FROM credit_lot
    WHERE org_id = p_org AND remaining_credits > 0 ORDER BY id FOR NO KEY UPDATE
  LOOP
    v_take := LEAST(v_left, v_lot.remaining_credits);
    UPDATE credit_lot SET remaining_credits = remaining_credits - v_take WHERE id = v_lot.id;
    INSERT INTO lot_movement (lot_id, transaction_id, credits) VALUES (v_lot.id, p_transaction, -v_take);
    v_left := v_left - v_take;
    EXIT WHEN v_left = 0;
  END LOOP;
  IF v_left > 0 THEN
    RAISE EXCEPTION 'lots of organisation % hold % credits less than its balance', p_org, v_left USING ERRCODE = 'CR900';
  END IF;
END $$;

-- An earlier write under this key, if any. The caller holds the org lock, so
-- no other writer can add the key meanwhile; the same key with other
-- arguments is refused.
CREATE FUNCTION ledger_find_replay(p_org uuid, p_key text, p_fingerprint text) RETURNS credit_transaction
LANGUAGE plpgsql AS $$
DECLARE
  v_existing credit_transaction%ROWTYPE;
BEGIN
  SELECT * INTO v_existing FROM credit_transaction t WHERE t.org_id = p_org AND t.idempotency_key = p_key;
  IF FOUND AND v_existing.request_fingerprint <> p_fingerprint THEN
    RAISE EXCEPTION 'idempotency key "%" was already used with different arguments', p_key USING ERRCODE = 'CR002';
  END IF;
  RETURN v_existing;
END $$;

CREATE FUNCTION ledger_lock_org(p_org uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM organisation WHERE id = p_org FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'organisation % not found', p_org USING ERRCODE = 'CR001';
  END IF;
END $$;

CREATE FUNCTION ledger_lock_reservation(p_org uuid, p_key text) RETURNS reservation
LANGUAGE plpgsql AS $$
DECLARE
  v_reservation reservation%ROWTYPE;
BEGIN
  SELECT * INTO v_reservation FROM reservation r WHERE r.org_id = p_org AND r.key = p_key FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'reservation "%" not found', p_key USING ERRCODE = 'CR003';
  END IF;
  RETURN v_reservation;
END $$;

CREATE FUNCTION ledger_require_held(p_reservation reservation) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_reservation.status <> 'HELD' THEN
    RAISE EXCEPTION 'reservation "%" is % and can no longer be captured', p_reservation.key,
      lower(p_reservation.status::text) USING ERRCODE = 'CR004';
  END IF;
END $$;

-- The balance a captured reservation left: its Usage transaction's, or the
-- org's current one when it charged nothing.
CREATE FUNCTION ledger_captured_balance(p_reservation reservation) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT COALESCE((SELECT t.balance_after FROM credit_transaction t WHERE t.id = p_reservation.usage_transaction_id),
                  (SELECT o.balance_credits FROM organisation o WHERE o.id = p_reservation.org_id));
$$;

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

CREATE FUNCTION ledger_grant(
  p_org uuid, p_type credit_transaction_type, p_credits int, p_key text, p_fingerprint text,
  p_user uuid, p_reference text
) RETURNS TABLE (transaction_id bigint, balance_after bigint, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_replay credit_transaction%ROWTYPE;
  v_balance bigint;
  v_transaction bigint;
BEGIN
  PERFORM ledger_lock_org(p_org);
  v_replay := ledger_find_replay(p_org, p_key, p_fingerprint);
  IF v_replay.id IS NOT NULL THEN
    RETURN QUERY SELECT v_replay.id, v_replay.balance_after, true;
    RETURN;
  END IF;
  UPDATE organisation SET balance_credits = balance_credits + p_credits WHERE id = p_org
    RETURNING balance_credits INTO v_balance;
  INSERT INTO credit_transaction (org_id, type, credits, user_id, balance_after, idempotency_key, request_fingerprint, reference)
    VALUES (p_org, p_type, p_credits, p_user, v_balance, p_key, p_fingerprint, p_reference)
    RETURNING id INTO v_transaction;
  INSERT INTO credit_lot (org_id, transaction_id, source, credits, remaining_credits)
    VALUES (p_org, v_transaction, p_type, p_credits, p_credits);
  RETURN QUERY SELECT v_transaction, v_balance, false;
END $$;

CREATE FUNCTION ledger_reserve(
  p_org uuid, p_key text, p_fingerprint text, p_credits int, p_usage_type usage_type,
  p_event int, p_user uuid, p_reference text, p_ttl_ms int
) RETURNS TABLE (reservation_id bigint, credits_reserved int, status reservation_status, expires_at timestamptz, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_available bigint;
  v_reservation reservation%ROWTYPE;
BEGIN
  -- The org lock comes first: the insert's foreign-key checks then need no
  -- lock of their own on the hot row (many lockers of one row are slow).
  SELECT o.balance_credits - o.reserved_credits INTO v_available
    FROM organisation o WHERE o.id = p_org FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'organisation % not found', p_org USING ERRCODE = 'CR001';
  END IF;
  INSERT INTO reservation AS r (org_id, key, request_fingerprint, credits_requested, credits_reserved,
                                usage_type, event_id, user_id, reference, expires_at)
    VALUES (p_org, p_key, p_fingerprint, p_credits, LEAST(p_credits, v_available),
            p_usage_type, p_event, p_user, p_reference, now() + p_ttl_ms * interval '1 millisecond')
    ON CONFLICT (org_id, key) DO NOTHING
    RETURNING * INTO v_reservation;
  IF NOT FOUND THEN
    SELECT * INTO v_reservation FROM reservation r WHERE r.org_id = p_org AND r.key = p_key;
    IF v_reservation.request_fingerprint <> p_fingerprint THEN
      RAISE EXCEPTION 'idempotency key "%" was already used with different arguments', p_key USING ERRCODE = 'CR002';
    END IF;
    RETURN QUERY SELECT v_reservation.id, v_reservation.credits_reserved, v_reservation.status, v_reservation.expires_at, true;
    RETURN;
  END IF;
  IF v_reservation.credits_reserved > 0 THEN
    UPDATE organisation SET reserved_credits = reserved_credits + v_reservation.credits_reserved WHERE id = p_org;
  END IF;
  RETURN QUERY SELECT v_reservation.id, v_reservation.credits_reserved, v_reservation.status, v_reservation.expires_at, false;
END $$;

-- Charges the used part of a held reservation (one Usage transaction) and
-- gives back the rest. Capturing 0 writes no transaction.
CREATE FUNCTION ledger_capture(p_org uuid, p_key text, p_credits_used int)
RETURNS TABLE (transaction_id bigint, credits_captured int, credits_released int, balance_after bigint, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_reservation reservation%ROWTYPE;
  v_transaction bigint;
BEGIN
  v_reservation := ledger_lock_reservation(p_org, p_key);
  IF v_reservation.status = 'CAPTURED' THEN
    IF v_reservation.credits_captured <> p_credits_used THEN
      RAISE EXCEPTION 'reservation "%" was already captured with % credits, not %', p_key,
        v_reservation.credits_captured, p_credits_used USING ERRCODE = 'CR002';
    END IF;
    RETURN QUERY SELECT v_reservation.usage_transaction_id, v_reservation.credits_captured,
      v_reservation.credits_reserved - v_reservation.credits_captured, ledger_captured_balance(v_reservation), true;
    RETURN;
  END IF;
  PERFORM ledger_require_held(v_reservation);
  IF p_credits_used > v_reservation.credits_reserved THEN
    RAISE EXCEPTION 'cannot capture % credits: reservation "%" holds %', p_credits_used, p_key,
      v_reservation.credits_reserved USING ERRCODE = 'CR005';
  END IF;
  IF p_credits_used > 0 THEN
    v_transaction := nextval('credit_transaction_id_seq');
  END IF;
  RETURN QUERY SELECT v_transaction, p_credits_used, v_reservation.credits_reserved - p_credits_used,
    ledger_settle_reservation(v_reservation, p_credits_used, v_transaction), false;
END $$;

-- Gives back a held reservation's credits. Releasing a settled one is a no-op.
CREATE FUNCTION ledger_release(p_org uuid, p_key text)
RETURNS TABLE (status reservation_status, credits_released int)
LANGUAGE plpgsql AS $$
DECLARE
  v_reservation reservation%ROWTYPE;
BEGIN
  v_reservation := ledger_lock_reservation(p_org, p_key);
  IF v_reservation.status <> 'HELD' THEN
    RETURN QUERY SELECT v_reservation.status, 0;
    RETURN;
  END IF;
  UPDATE organisation SET reserved_credits = reserved_credits - v_reservation.credits_reserved WHERE id = p_org;
  UPDATE reservation SET status = 'RELEASED', settled_at = now() WHERE id = v_reservation.id;
  RETURN QUERY SELECT 'RELEASED'::reservation_status, v_reservation.credits_reserved;
END $$;

-- The sweeper: expires held reservations past their expiry, at most p_limit
-- per call. Holds a capture is settling are skipped, not waited for; the
-- orgs are locked in id order, like every batch, so sweepers never deadlock.
CREATE FUNCTION ledger_expire_reservations(p_limit int)
RETURNS TABLE (org_id uuid, key text, credits_released int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_expiring bigint[];
BEGIN
  v_expiring := ARRAY(
    SELECT r.id FROM reservation r
    WHERE r.status = 'HELD' AND r.expires_at <= now()
    ORDER BY r.expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
  PERFORM 1 FROM organisation o
    WHERE o.id IN (SELECT r.org_id FROM reservation r WHERE r.id = ANY (v_expiring))
    ORDER BY o.id FOR NO KEY UPDATE;
  RETURN QUERY
  WITH expired AS (
    UPDATE reservation r SET status = 'EXPIRED', settled_at = now()
    WHERE r.id = ANY (v_expiring)
    RETURNING r.org_id, r.key, r.credits_reserved
  ),
  released AS (
    UPDATE organisation o SET reserved_credits = o.reserved_credits - t.total
    FROM (SELECT e.org_id, sum(e.credits_reserved) AS total FROM expired e GROUP BY e.org_id) AS t
    WHERE o.id = t.org_id
    RETURNING 1
  )
  SELECT e.org_id, e.key, e.credits_reserved FROM expired e;
END $$;

-- Refunds part or all of a usage transaction, returning the credits to the
-- lots it drew on, the last-drawn lot first.
CREATE FUNCTION ledger_refund(
  p_org uuid, p_usage_transaction bigint, p_credits int, p_key text, p_fingerprint text,
  p_user uuid, p_reason text
) RETURNS TABLE (transaction_id bigint, balance_after bigint, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_existing credit_transaction%ROWTYPE;
  v_usage credit_transaction%ROWTYPE;
  v_refunded bigint;
  v_balance bigint;
  v_transaction bigint;
  v_left int := p_credits;
  v_give int;
  v_lot record;
BEGIN
  PERFORM ledger_lock_org(p_org);
  v_existing := ledger_find_replay(p_org, p_key, p_fingerprint);
  IF v_existing.id IS NOT NULL THEN
    RETURN QUERY SELECT v_existing.id, v_existing.balance_after, true;
    RETURN;
  END IF;
  SELECT * INTO v_usage FROM credit_transaction t
    WHERE t.id = p_usage_transaction AND t.org_id = p_org AND t.type = 'USAGE';
  IF NOT FOUND THEN
    RAISE EXCEPTION 'usage transaction % not found in organisation %', p_usage_transaction, p_org USING ERRCODE = 'CR006';
  END IF;
  SELECT COALESCE(sum(t.credits), 0) INTO v_refunded FROM credit_transaction t WHERE t.refund_of_id = v_usage.id;
  IF p_credits > -v_usage.credits - v_refunded THEN
    RAISE EXCEPTION 'cannot refund % credits: usage transaction % charged % and % are already refunded',
      p_credits, v_usage.id, -v_usage.credits, v_refunded USING ERRCODE = 'CR007';
  END IF;
  UPDATE organisation SET balance_credits = balance_credits + p_credits WHERE id = p_org
    RETURNING balance_credits INTO v_balance;
  INSERT INTO credit_transaction (org_id, type, usage_type, credits, event_id, user_id, balance_after,
                                  idempotency_key, request_fingerprint, reference, refund_of_id)
    VALUES (p_org, 'REFUND', v_usage.usage_type, p_credits, v_usage.event_id, p_user, v_balance,
            p_key, p_fingerprint, p_reason, v_usage.id)
    RETURNING id INTO v_transaction;
  FOR v_lot IN
    SELECT m.lot_id, -sum(m.credits) AS outstanding FROM lot_movement m
    WHERE m.transaction_id = v_usage.id
       OR m.transaction_id IN (SELECT t.id FROM credit_transaction t WHERE t.refund_of_id = v_usage.id)
    GROUP BY m.lot_id HAVING -sum(m.credits) > 0
    ORDER BY m.lot_id DESC
  LOOP
    v_give := LEAST(v_left, v_lot.outstanding);
    UPDATE credit_lot SET remaining_credits = remaining_credits + v_give WHERE id = v_lot.lot_id;
    INSERT INTO lot_movement (lot_id, transaction_id, credits) VALUES (v_lot.lot_id, v_transaction, v_give);
    v_left := v_left - v_give;
    EXIT WHEN v_left = 0;
  END LOOP;
  IF v_left > 0 THEN
    RAISE EXCEPTION 'usage transaction % drew % credits less from lots than it charged', v_usage.id, v_left USING ERRCODE = 'CR900';
  END IF;
  RETURN QUERY SELECT v_transaction, v_balance, false;
END $$;
