import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";

export interface SmtpCapture {
  readonly url: string;
  readonly messages: ParsedMail[];
  /** Envelope recipients of each message, in arrival order. */
  readonly recipients: string[][];
  close(): Promise<void>;
}

/**
 * A real SMTP server in the test process, on a free port (or the one given),
 * that keeps what it receives; `reject` makes it refuse every message for good.
 */
export async function startSmtpCapture(options: { port?: number; reject?: { code: number; message: string } } = {}): Promise<SmtpCapture> {
  const messages: ParsedMail[] = [];
  const recipients: string[][] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      if (options.reject) {
        stream.resume();
        stream.on("end", () => callback(Object.assign(new Error(options.reject!.message), { responseCode: options.reject!.code })));
        return;
      }
      simpleParser(stream)
        .then((mail) => {
          messages.push(mail);
          recipients.push(session.envelope.rcptTo.map((to) => to.address));
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    recipients,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
