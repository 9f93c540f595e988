-- CreateEnum
CREATE TYPE "statement_status" AS ENUM ('PENDING', 'SENDING', 'SENT', 'FAILED', 'SKIPPED');

-- CreateTable
CREATE TABLE "statement" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "org_id" UUID NOT NULL,
    "month" TEXT NOT NULL,
    "status" "statement_status" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "message_id" TEXT NOT NULL,
    "recipients" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "failure_reason" TEXT,
    "sent_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "statement_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "statement_status_idx" ON "statement"("status");

-- CreateIndex
CREATE UNIQUE INDEX "statement_org_id_month_key" ON "statement"("org_id", "month");

-- AddForeignKey
ALTER TABLE "statement" ADD CONSTRAINT "statement_org_id_fkey" FOREIGN KEY ("org_id") REFERENCES "organisation"("id") ON DELETE RESTRICT ON UPDATE CASCADE;


ALTER TABLE "statement" ADD CONSTRAINT "statement_month" CHECK ("month" ~ '^[0-9]{4}-(0[1-9]|1[0-2])$');
