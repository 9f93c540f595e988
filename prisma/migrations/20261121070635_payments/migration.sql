-- CreateEnum
CREATE TYPE "payment_status" AS ENUM ('PENDING', 'SUCCEEDED', 'FAILED', 'NEEDS_ATTENTION');

-- CreateTable
CREATE TABLE "payment" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "org_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    "credits" INTEGER NOT NULL,
    "unit_price" DECIMAL(18,6) NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "subtotal_minor" BIGINT NOT NULL,
    "tax_rate" DECIMAL(7,6) NOT NULL,
    "tax_minor" BIGINT NOT NULL,
    "total_minor" BIGINT NOT NULL,
    "status" "payment_status" NOT NULL DEFAULT 'PENDING',
    "provider_intent_id" TEXT,
    "failure_reason" TEXT,
    "pending_checks" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_checked_at" TIMESTAMPTZ(3),
    "settled_at" TIMESTAMPTZ(3),

    CONSTRAINT "payment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "invoice" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "number" TEXT NOT NULL,
    "org_id" UUID NOT NULL,
    "payment_id" UUID NOT NULL,
    "credits" INTEGER NOT NULL,
    "unit_price" DECIMAL(18,6) NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "subtotal_minor" BIGINT NOT NULL,
    "tax_rate" DECIMAL(7,6) NOT NULL,
    "tax_minor" BIGINT NOT NULL,
    "total_minor" BIGINT NOT NULL,
    "payment_reference" TEXT NOT NULL,
    "issued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "invoice_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "invoice_counter" (
    "year" INTEGER NOT NULL,
    "last_number" INTEGER NOT NULL,

    CONSTRAINT "invoice_counter_pkey" PRIMARY KEY ("year")
);

-- CreateTable
CREATE TABLE "payment_check" (
    "id" BIGSERIAL NOT NULL,
    "payment_id" UUID NOT NULL,
    "source" TEXT NOT NULL,
    "tick" TEXT,
    "old_status" "payment_status" NOT NULL,
    "new_status" "payment_status" NOT NULL,
    "detail" TEXT,
    "checked_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "payment_check_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "provider_event" (
    "id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "provider_event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "scheduler_tick" (
    "id" BIGSERIAL NOT NULL,
    "task" TEXT NOT NULL,
    "slot" TEXT NOT NULL,
    "instance" TEXT NOT NULL,
    "enqueued" INTEGER NOT NULL,
    "fired_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "scheduler_tick_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "payment_provider_intent_id_key" ON "payment"("provider_intent_id");

-- CreateIndex
CREATE INDEX "payment_status_created_at_idx" ON "payment"("status", "created_at");

-- CreateIndex
CREATE UNIQUE INDEX "payment_org_id_idempotency_key_key" ON "payment"("org_id", "idempotency_key");

-- CreateIndex
CREATE UNIQUE INDEX "invoice_number_key" ON "invoice"("number");

-- CreateIndex
CREATE UNIQUE INDEX "invoice_payment_id_key" ON "invoice"("payment_id");

-- CreateIndex
CREATE INDEX "invoice_org_id_issued_at_idx" ON "invoice"("org_id", "issued_at");

-- CreateIndex
CREATE INDEX "payment_check_payment_id_checked_at_idx" ON "payment_check"("payment_id", "checked_at");

-- CreateIndex
CREATE INDEX "scheduler_tick_task_slot_idx" ON "scheduler_tick"("task", "slot");

-- AddForeignKey
ALTER TABLE "payment" ADD CONSTRAINT "payment_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organisation"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payment" ADD CONSTRAINT "payment_org_id_user_id_fkey" FOREIGN KEY ("org_id", "user_id") REFERENCES "app_user"("org_id", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "invoice" ADD CONSTRAINT "invoice_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organisation"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "invoice" ADD CONSTRAINT "invoice_payment_id_fkey" FOREIGN KEY ("payment_id") REFERENCES "payment"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payment_check" ADD CONSTRAINT "payment_check_payment_id_fkey" FOREIGN KEY ("payment_id") REFERENCES "payment"("id") ON DELETE RESTRICT ON UPDATE CASCADE;


-- ---------------------------------------------------------------------------
-- Payments: settlement is one transaction (payment row lock, ledger grant,
-- gap-free invoice number), so a payment credits the ledger and issues an
-- invoice exactly once, whoever settles it (webhook, scheduler, ops) and
-- however often.
-- ---------------------------------------------------------------------------

ALTER TABLE "payment"
  ADD CONSTRAINT "payment_credits_positive" CHECK ("credits" > 0),
  ADD CONSTRAINT "payment_amounts" CHECK ("subtotal_minor" >= 0 AND "tax_minor" >= 0 AND "total_minor" = "subtotal_minor" + "tax_minor");
ALTER TABLE "invoice"
  ADD CONSTRAINT "invoice_amounts" CHECK ("total_minor" = "subtotal_minor" + "tax_minor");
CREATE INDEX "payment_stuck_idx" ON "payment" ("created_at") WHERE "status" = 'PENDING';

-- Invoices and their numbers are never changed or removed.
CREATE TRIGGER invoice_append_only BEFORE UPDATE OR DELETE ON "invoice"
  FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();

CREATE FUNCTION payment_settle(
  p_payment uuid, p_succeeded boolean, p_reference text, p_reason text, p_source text, p_tick text
) RETURNS TABLE (old_status payment_status, new_status payment_status, credits_added int, invoice_number text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  v_payment payment%ROWTYPE;
  v_year int := extract(year FROM now() AT TIME ZONE 'UTC')::int;
  v_sequence int;
  v_number text;
BEGIN
  SELECT * INTO v_payment FROM payment WHERE id = p_payment FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'payment % not found', p_payment USING ERRCODE = 'CR020';
  END IF;
  IF v_payment.status IN ('SUCCEEDED', 'FAILED') THEN
    -- Settled already: a late, duplicate or out-of-order outcome changes nothing.
    INSERT INTO payment_check (payment_id, source, tick, old_status, new_status, detail)
      VALUES (p_payment, p_source, p_tick, v_payment.status, v_payment.status, 'already settled');
    RETURN QUERY SELECT v_payment.status, v_payment.status, 0,
      (SELECT i.number FROM invoice i WHERE i.payment_id = p_payment);
    RETURN;
  END IF;
  IF NOT p_succeeded THEN
    UPDATE payment SET status = 'FAILED', failure_reason = p_reason, settled_at = now(), last_checked_at = now()
      WHERE id = p_payment;
    INSERT INTO payment_check (payment_id, source, tick, old_status, new_status, detail)
      VALUES (p_payment, p_source, p_tick, v_payment.status, 'FAILED', p_reason);
    RETURN QUERY SELECT v_payment.status, 'FAILED'::payment_status, 0, NULL::text;
    RETURN;
  END IF;
  PERFORM ledger_grant(v_payment.org_id, 'PURCHASE', v_payment.credits, 'payment:' || p_payment,
    'payment:' || p_payment, v_payment.user_id, 'payment ' || p_payment);
  -- The counter row is locked until commit: numbers are handed out in order,
  -- and a rolled-back settlement gives its number back.
  INSERT INTO invoice_counter AS c (year, last_number) VALUES (v_year, 1)
    ON CONFLICT (year) DO UPDATE SET last_number = c.last_number + 1
    RETURNING c.last_number INTO v_sequence;
  v_number := format('INV-%s-%s', v_year, lpad(v_sequence::text, 6, '0'));
  INSERT INTO invoice (number, org_id, payment_id, credits, unit_price, currency, subtotal_minor, tax_rate,
                       tax_minor, total_minor, payment_reference)
    VALUES (v_number, v_payment.org_id, p_payment, v_payment.credits, v_payment.unit_price, v_payment.currency,
            v_payment.subtotal_minor, v_payment.tax_rate, v_payment.tax_minor, v_payment.total_minor,
            COALESCE(p_reference, v_payment.provider_intent_id, p_payment::text));
  UPDATE payment SET status = 'SUCCEEDED', settled_at = now(), last_checked_at = now() WHERE id = p_payment;
  INSERT INTO payment_check (payment_id, source, tick, old_status, new_status, detail)
    VALUES (p_payment, p_source, p_tick, v_payment.status, 'SUCCEEDED', v_number);
  RETURN QUERY SELECT v_payment.status, 'SUCCEEDED'::payment_status, v_payment.credits, v_number;
END $$;
