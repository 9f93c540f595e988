import type { FastifyRequest } from "fastify";
import type { Principal, PrincipalDirectory } from "./principal.js";

/**
 * The token of a request: "Authorization: Bearer <token>", or Basic
 * credentials whose password is the token (what a browser sends to the
 * queue dashboard after its login prompt).
 */
export function tokenOf(request: FastifyRequest, options: { basic: boolean } = { basic: false }): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  const [scheme, value] = header.split(" ", 2);
  if (!value) return null;
  if (scheme?.toLowerCase() === "bearer") return value.trim() || null;
  // Basic only where a browser needs it: a saved login sent along with a
  // cross-site form post must not act on the API.
  if (scheme?.toLowerCase() === "basic" && options.basic) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon >= 0 && decoded.length > colon + 1 ? decoded.slice(colon + 1) : null;
  }
  return null;
}

export async function authenticate(directory: PrincipalDirectory, request: FastifyRequest, options: { basic: boolean } = { basic: false }): Promise<Principal | null> {
  const token = tokenOf(request, options);
  return token ? directory.find(token) : null;
}
