import { z } from "zod";
import { AppError, type ErrorCode } from "./errors.js";

/** "credits: must be a whole number; eventId: required" */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join(".") : "input"}: ${issue.message}`)
    .join("; ");
}

/**
 * Parses input at an edge of the system. A failure is an AppError whose message
 * names each field and the rule it broke; nothing has been written by then.
 */
export function parseInput<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  what: string,
  code: ErrorCode = "INVALID_INPUT",
): z.output<Schema> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new AppError(code, `invalid ${what}: ${describeIssues(result.error)}`, {
      details: { issues: result.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })) },
    });
  }
  return result.data;
}
