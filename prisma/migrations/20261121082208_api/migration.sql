-- CreateTable
CREATE TABLE "credit_hour_total" (
    "org_id" UUID NOT NULL,
    "hour_start" TIMESTAMPTZ(3) NOT NULL,
    "credits_used" BIGINT NOT NULL,
    "credits_added" BIGINT NOT NULL,
    "usage_transactions" INTEGER NOT NULL,

    CONSTRAINT "credit_hour_total_pkey" PRIMARY KEY ("org_id","hour_start")
);

-- CreateTable
CREATE TABLE "staff_member" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "email" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "staff_member_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_token" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "token_hash" TEXT NOT NULL,
    "token_prefix" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "org_id" UUID,
    "user_id" UUID,
    "staff_member_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_token_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "staff_member_email_key" ON "staff_member"("email");

-- CreateIndex
CREATE UNIQUE INDEX "api_token_token_hash_key" ON "api_token"("token_hash");

-- CreateIndex
CREATE INDEX "api_token_user_id_idx" ON "api_token"("user_id");

-- CreateIndex
CREATE INDEX "api_token_staff_member_id_idx" ON "api_token"("staff_member_id");

-- CreateIndex
CREATE INDEX "credit_transaction_org_id_id_idx" ON "credit_transaction"("org_id", "id" DESC);

-- CreateIndex
CREATE INDEX "credit_transaction_org_id_event_id_id_idx" ON "credit_transaction"("org_id", "event_id", "id" DESC);

-- AddForeignKey
ALTER TABLE "api_token" ADD CONSTRAINT "api_token_org_id_user_id_fkey" FOREIGN KEY ("org_id", "user_id") REFERENCES "app_user"("org_id", "id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "api_token" ADD CONSTRAINT "api_token_staff_member_id_fkey" FOREIGN KEY ("staff_member_id") REFERENCES "staff_member"("id") ON DELETE RESTRICT ON UPDATE CASCADE;



-- A token belongs to an org's user or to a staff member, never both, never neither.
ALTER TABLE "api_token" ADD CONSTRAINT "api_token_owner" CHECK (
  ("user_id" IS NOT NULL AND "org_id" IS NOT NULL AND "staff_member_id" IS NULL)
  OR ("user_id" IS NULL AND "org_id" IS NULL AND "staff_member_id" IS NOT NULL));
ALTER TABLE "api_token" ADD CONSTRAINT "api_token_hash_format" CHECK ("token_hash" ~ '^[0-9a-f]{64}$');

-- The Purchase History tab: additions only, newest first, without walking past usage rows.
CREATE INDEX "credit_transaction_additions_idx" ON "credit_transaction" ("org_id", "id" DESC) WHERE "type" <> 'USAGE';

-- Hourly totals follow every row of the ledger, in the same transaction. The
-- triggers are statement-level (one upsert per statement, however many rows a
-- batched capture writes) and ENABLE ALWAYS, so that a maintenance session
-- running with session_replication_role = replica keeps the totals right too.
-- Writers of credit_transaction hold the org's row lock, so the upserts of one
-- org never race; rows are upserted in key order all the same.
CREATE FUNCTION credit_hour_total_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO credit_hour_total AS h (org_id, hour_start, credits_used, credits_added, usage_transactions)
    SELECT org_id, date_trunc('hour', created_at, 'UTC'),
           COALESCE(sum(credits) FILTER (WHERE type = 'USAGE'), 0),
           COALESCE(-sum(credits) FILTER (WHERE credits > 0), 0),
           -count(*) FILTER (WHERE type = 'USAGE')
    FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (org_id, hour_start) DO UPDATE SET
      credits_used = h.credits_used + EXCLUDED.credits_used,
      credits_added = h.credits_added + EXCLUDED.credits_added,
      usage_transactions = h.usage_transactions + EXCLUDED.usage_transactions;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO credit_hour_total AS h (org_id, hour_start, credits_used, credits_added, usage_transactions)
    SELECT org_id, date_trunc('hour', created_at, 'UTC'),
           COALESCE(-sum(credits) FILTER (WHERE type = 'USAGE'), 0),
           COALESCE(sum(credits) FILTER (WHERE credits > 0), 0),
           count(*) FILTER (WHERE type = 'USAGE')
    FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (org_id, hour_start) DO UPDATE SET
      credits_used = h.credits_used + EXCLUDED.credits_used,
      credits_added = h.credits_added + EXCLUDED.credits_added,
      usage_transactions = h.usage_transactions + EXCLUDED.usage_transactions;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER credit_hour_total_after_insert AFTER INSERT ON "credit_transaction"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION credit_hour_total_follow();
CREATE TRIGGER credit_hour_total_after_update AFTER UPDATE ON "credit_transaction"
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION credit_hour_total_follow();
CREATE TRIGGER credit_hour_total_after_delete AFTER DELETE ON "credit_transaction"
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION credit_hour_total_follow();
ALTER TABLE "credit_transaction" ENABLE ALWAYS TRIGGER credit_hour_total_after_insert;
ALTER TABLE "credit_transaction" ENABLE ALWAYS TRIGGER credit_hour_total_after_update;
ALTER TABLE "credit_transaction" ENABLE ALWAYS TRIGGER credit_hour_total_after_delete;

INSERT INTO credit_hour_total (org_id, hour_start, credits_used, credits_added, usage_transactions)
SELECT org_id, date_trunc('hour', created_at, 'UTC'),
       COALESCE(-sum(credits) FILTER (WHERE type = 'USAGE'), 0),
       COALESCE(sum(credits) FILTER (WHERE credits > 0), 0),
       count(*) FILTER (WHERE type = 'USAGE')
FROM credit_transaction GROUP BY 1, 2;
