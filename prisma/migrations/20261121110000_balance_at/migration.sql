-- An org's balance at an instant: whole UTC hours from the hourly totals, the
-- part-hour before the instant from the ledger itself. Statements ask it for
-- the start and the end of their month; the cost does not grow with the ledger.
CREATE FUNCTION ledger_balance_at(p_org uuid, p_at timestamptz) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT COALESCE((SELECT sum(credits_added - credits_used) FROM credit_hour_total
                   WHERE org_id = p_org AND hour_start < date_trunc('hour', p_at, 'UTC')), 0)
       + COALESCE((SELECT sum(credits) FROM credit_transaction
                   WHERE org_id = p_org AND created_at >= date_trunc('hour', p_at, 'UTC') AND created_at < p_at), 0)
$$;
