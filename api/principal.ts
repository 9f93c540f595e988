import type { Database } from "../prisma/database.js";
import { hashApiToken } from "./api-tokens.js";

/** Who is calling: an org's admin or operator, or a member of the platform's staff. */
export type Principal =
  | { role: "ADMIN" | "OPERATOR"; tokenId: string; orgId: string; userId: string; name: string }
  | { role: "STAFF"; tokenId: string; staffMemberId: string; name: string };

/**
 * Finds the principal behind a token, or null for an unknown or revoked one.
 * Lookups are remembered for `cacheMs` (revocation and role changes take at
 * most that long), and a token's last use is written at most once a minute.
 */
export class PrincipalDirectory {
  private readonly remembered = new Map<string, { principal: Principal | null; until: number }>();
  private readonly lastUseWritten = new Map<string, number>();

  constructor(private readonly db: Database, private readonly cacheMs: number, private readonly maxRemembered = 10_000) {}

  async find(token: string): Promise<Principal | null> {
    const hash = hashApiToken(token);
    const now = Date.now();
    const hit = this.remembered.get(hash);
    if (hit && hit.until > now) {
      if (hit.principal) this.noteUse(hit.principal.tokenId, now);
      return hit.principal;
    }
    const { rows } = await this.db.pool.query<{
      id: string; org_id: string | null; user_id: string | null; role: "ADMIN" | "OPERATOR" | null; user_name: string | null;
      staff_member_id: string | null; staff_name: string | null;
    }>(
      `SELECT t.id, t.org_id, t.user_id, u.role, u.name AS user_name, t.staff_member_id, s.name AS staff_name
       FROM api_token t LEFT JOIN app_user u ON u.id = t.user_id LEFT JOIN staff_member s ON s.id = t.staff_member_id
       WHERE t.token_hash = $1 AND t.revoked_at IS NULL`,
      [hash],
    );
    const row = rows[0];
    const principal: Principal | null = !row ? null
      : row.staff_member_id ? { role: "STAFF", tokenId: row.id, staffMemberId: row.staff_member_id, name: row.staff_name! }
      : { role: row.role!, tokenId: row.id, orgId: row.org_id!, userId: row.user_id!, name: row.user_name! };
    // Unknown tokens are not remembered: a flood of guesses must not push out the good ones.
    if (principal && this.cacheMs > 0) {
      if (this.remembered.size >= this.maxRemembered) this.remembered.clear();
      this.remembered.set(hash, { principal, until: now + this.cacheMs });
    }
    if (principal) this.noteUse(principal.tokenId, now);
    return principal;
  }

  private noteUse(tokenId: string, now: number): void {
    if ((this.lastUseWritten.get(tokenId) ?? 0) > now - 60_000) return;
    if (this.lastUseWritten.size >= this.maxRemembered) this.lastUseWritten.clear();
    this.lastUseWritten.set(tokenId, now);
    // Best effort: a lost last-use write must never fail the request.
    this.db.pool.query("UPDATE api_token SET last_used_at = now() WHERE id = $1", [tokenId]).catch(() => undefined);
  }
}
