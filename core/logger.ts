import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/** Anything that could let a reader act as someone else, or reach a mailbox. */
const redactedPaths = [
  "password", "*.password", "token", "*.token", "authorization", "*.authorization",
  "req.headers.authorization", "req.headers.cookie", "secret", "*.secret",
  "email", "*.email", "*.emails", "smtpUrl", "*.smtpUrl", "databaseUrl", "*.databaseUrl",
];

/** A logger to stdout, or to `destination` (tests read what it wrote). */
export function createLogger(options: { level: string; name?: string; destination?: DestinationStream }): Logger {
  const settings = { name: options.name ?? "credits", level: options.level, redact: { paths: redactedPaths, censor: "[redacted]" } };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

const noop = () => {};

/**
 * `logger.child(bindings)`, made when a line is first written at an enabled
 * level. pino's child() runs redaction over its bindings, which at full
 * metering speed costs more than a job's own bookkeeping, while most jobs
 * write nothing at the configured level.
 */
export function childLoggerOnDemand(logger: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const made = () => (child ??= logger.child(bindings));
  return new Proxy(logger, {
    get(target, property) {
      if (typeof property === "string" && property in target.levels.values && !target.isLevelEnabled(property)) return noop;
      const value: unknown = Reflect.get(made(), property);
      return typeof value === "function" ? value.bind(made()) : value;
    },
  });
}
