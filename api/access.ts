import { AppError } from "../core/errors.js";
import type { FastifyRequest } from "fastify";
import type { Database } from "../prisma/database.js";
import { principalOf } from "./api-context.js";
import type { Principal } from "./principal.js";

/**
 * What each role may do. Admins and operators act only within their own org;
 * staff act across orgs. Operators see credits and usage, not billing.
 */
export const permissions = {
  "credits:read": ["ADMIN", "OPERATOR", "STAFF"],
  "billing:read": ["ADMIN", "STAFF"],
  "credits:buy": ["ADMIN"],
  "payments:recheck": ["ADMIN", "STAFF"],
  "staff": ["STAFF"],
} as const satisfies Record<string, readonly Principal["role"][]>;

export type Permission = keyof typeof permissions;

export function can(principal: Principal, permission: Permission): boolean {
  return (permissions[permission] as readonly string[]).includes(principal.role);
}

const denials: Record<Permission, string> = {
  "credits:read": "this token cannot read credits",
  "billing:read": "only the organisation's admins can see payments, invoices and statements",
  "credits:buy": "only the organisation's admins can buy credits",
  "payments:recheck": "only the organisation's admins can recheck its payments",
  "staff": "only the platform's staff can do this",
};

export function requirePermission(principal: Principal, permission: Permission): void {
  if (!can(principal, permission)) throw new AppError("PERMISSION_DENIED", denials[permission], { details: { role: principal.role, permission } });
}

/**
 * An org the caller may address. Another org's id answers exactly as an id
 * that does not exist, so a caller learns nothing about other orgs.
 */
export async function requireOrg(db: Database, principal: Principal, orgId: string): Promise<void> {
  if (principal.role !== "STAFF") {
    if (principal.orgId !== orgId) throw orgNotFound(orgId);
    return;
  }
  const { rowCount } = await db.pool.query("SELECT 1 FROM organisation WHERE id = $1", [orgId]);
  if (rowCount === 0) throw orgNotFound(orgId);
}

function orgNotFound(orgId: string): AppError {
  return new AppError("ORG_NOT_FOUND", `organisation ${orgId} not found`);
}

/** The caller of a request on an org's route, once it may address the org (404 otherwise) and act (403 otherwise). */
export async function authoriseOnOrg(db: Database, request: FastifyRequest, orgId: string, permission: Permission): Promise<Principal> {
  const principal = principalOf(request);
  await requireOrg(db, principal, orgId);
  requirePermission(principal, permission);
  return principal;
}
