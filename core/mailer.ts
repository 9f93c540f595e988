import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import nodemailer from "nodemailer";
import type Mail from "nodemailer/lib/mailer/index.js";

export interface SentMail {
  messageId: string;
  accepted: string[];
  /** Where the .eml was written, when there is no SMTP server. */
  outboxFile?: string;
}

export interface Mailer {
  send(message: Mail.Options): Promise<SentMail>;
  close(): void;
}

/**
 * Mail over SMTP_URL when set (TLS and auth as the URL says); otherwise each
 * message is written as an .eml file to the outbox folder, so the pipeline
 * runs on a machine without a mail server.
 */
export function createMailer(config: { SMTP_URL?: string | undefined; OUTBOX_DIR: string; MAIL_FROM: string }): Mailer {
  if (config.SMTP_URL) {
    const transport = nodemailer.createTransport(config.SMTP_URL, { from: config.MAIL_FROM });
    return {
      async send(message) {
        const info = await transport.sendMail(message);
        return { messageId: info.messageId, accepted: info.accepted.map(String) };
      },
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" }, { from: config.MAIL_FROM });
  return {
    async send(message) {
      const info = await transport.sendMail(message);
      await mkdir(config.OUTBOX_DIR, { recursive: true });
      const file = path.join(config.OUTBOX_DIR, `${Date.now()}-${info.messageId.replace(/[^A-Za-z0-9.@-]/g, "")}.eml`);
      await writeFile(file, info.message as Buffer);
      return { messageId: info.messageId, accepted: info.envelope.to.map(String), outboxFile: file };
    },
    close: () => transport.close(),
  };
}
