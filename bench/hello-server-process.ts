/** A bench helper: bare Fastify answering hello world, the ceiling the API is compared with. */
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.get("/", async () => ({ hello: "world" }));
const url = await app.listen({ port: 0, host: "127.0.0.1" });
process.send!({ url });
process.on("message", async () => {
  await app.close();
  process.send!({ stopped: true }, () => process.exit(0));
});
