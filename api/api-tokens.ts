import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { AppError } from "../core/errors.js";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";

/** Tokens are 32 random bytes: a fast hash is as safe as a slow one for them, and keeps every request cheap. */
const tokenPrefix = "cm_";

export function hashApiToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export const issueApiTokenInput = z.union([
  z.strictObject({ userId: z.uuid({ error: "must be a user id (UUID)" }), label: z.string().trim().min(1).max(100).default("api") }),
  z.strictObject({ staffMemberId: z.uuid({ error: "must be a staff member id (UUID)" }), label: z.string().trim().min(1).max(100).default("api") }),
], { error: "must name exactly one of userId or staffMemberId" });

export interface IssuedApiToken {
  id: string;
  /** The token itself: shown once, never stored. */
  token: string;
  tokenPrefix: string;
}

/** Issues a token for an org's user or a staff member; only its hash is kept. */
export async function issueApiToken(db: Database, request: z.input<typeof issueApiTokenInput>): Promise<IssuedApiToken> {
  const owner = parseInput(issueApiTokenInput, request, "API token");
  const token = `${tokenPrefix}${randomBytes(32).toString("base64url")}`;
  const shownPrefix = token.slice(0, tokenPrefix.length + 6);
  if ("userId" in owner) {
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO api_token (token_hash, token_prefix, label, org_id, user_id)
       SELECT $1, $2, $3, org_id, id FROM app_user WHERE id = $4 RETURNING id`,
      [hashApiToken(token), shownPrefix, owner.label, owner.userId],
    );
    if (rows.length === 0) throw new AppError("USER_NOT_FOUND", `user ${owner.userId} not found`);
    return { id: rows[0]!.id, token, tokenPrefix: shownPrefix };
  }
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO api_token (token_hash, token_prefix, label, staff_member_id)
     SELECT $1, $2, $3, id FROM staff_member WHERE id = $4 RETURNING id`,
    [hashApiToken(token), shownPrefix, owner.label, owner.staffMemberId],
  );
  if (rows.length === 0) throw new AppError("USER_NOT_FOUND", `staff member ${owner.staffMemberId} not found`);
  return { id: rows[0]!.id, token, tokenPrefix: shownPrefix };
}

/** Revokes a token at once in the database; API processes stop honouring it within API_TOKEN_CACHE_MS. */
export async function revokeApiToken(db: Database, tokenId: string): Promise<{ revokedAt: Date }> {
  const id = parseInput(z.uuid({ error: "must be a token id (UUID)" }), tokenId, "token id");
  const { rows } = await db.pool.query<{ revoked_at: Date }>(
    "UPDATE api_token SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING revoked_at",
    [id],
  );
  if (rows.length === 0) throw new AppError("API_TOKEN_NOT_FOUND", `API token ${id} not found`);
  return { revokedAt: rows[0]!.revoked_at };
}

export interface ApiTokenListing {
  id: string;
  tokenPrefix: string;
  label: string;
  owner: string;
  role: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** An org's tokens, or the staff's when no org is given; never the tokens themselves. */
export async function listApiTokens(db: Database, orgId: string | null): Promise<ApiTokenListing[]> {
  const { rows } = await db.pool.query<{
    id: string; token_prefix: string; label: string; owner: string; role: string; created_at: Date; last_used_at: Date | null; revoked_at: Date | null;
  }>(
    `SELECT t.id, t.token_prefix, t.label, COALESCE(u.name, s.name) AS owner, COALESCE(u.role::text, 'STAFF') AS role,
            t.created_at, t.last_used_at, t.revoked_at
     FROM api_token t LEFT JOIN app_user u ON u.id = t.user_id LEFT JOIN staff_member s ON s.id = t.staff_member_id
     WHERE ($1::uuid IS NULL AND t.staff_member_id IS NOT NULL) OR t.org_id = $1
     ORDER BY t.created_at`,
    [orgId],
  );
  return rows.map((row) => ({
    id: row.id, tokenPrefix: row.token_prefix, label: row.label, owner: row.owner, role: row.role,
    createdAt: row.created_at, lastUsedAt: row.last_used_at, revokedAt: row.revoked_at,
  }));
}
