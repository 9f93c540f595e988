import { pino, type Logger } from "pino";

export type { Logger };

/** Anything that could let a reader act as someone else, or reach a mailbox. */
const redactedPaths = [
  "password", "*.password", "token", "*.token", "authorization", "*.authorization",
  "req.headers.authorization", "req.headers.cookie", "secret", "*.secret",
  "email", "*.email", "*.emails", "smtpUrl", "*.smtpUrl", "databaseUrl", "*.databaseUrl",
];

export function createLogger(options: { level: string; name?: string }): Logger {
  return pino({
    name: options.name ?? "credits",
    level: options.level,
    redact: { paths: redactedPaths, censor: "[redacted]" },
  });
}
