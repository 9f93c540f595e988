/** A local SMTP server for the benchmark that accepts and counts every message, and reports its CPU time; its own process. */
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

let received = 0;
const server = new SMTPServer({
  authOptional: true, disabledCommands: ["STARTTLS"], logger: false,
  onData(stream, _session, callback) {
    stream.resume();
    stream.on("end", () => { received += 1; callback(); });
  },
});
server.listen(0, "127.0.0.1", () => process.send?.({ port: (server.server.address() as AddressInfo).port }));
process.on("message", () => process.send?.({ received, cpu: process.cpuUsage() }, () => server.close(() => process.exit(0))));
