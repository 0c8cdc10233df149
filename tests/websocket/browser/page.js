// The page the browser test loads (bundled by esbuild with @nats-io/nats-core into
// .browser-test/bundle.js by tests/websocket/browser/setup.sh). It connects to the server
// given in the query string with the official client's `wsconnect`, exchanges messages with
// the test's Rust client on the server's client port, and posts what happened to /result.
import { headers, wsconnect } from "@nats-io/nats-core";

const params = new URLSearchParams(location.search);
const steps = [];

async function report(result) {
  result.steps = steps;
  await fetch("/result", { method: "POST", body: JSON.stringify(result) });
}

function text(data) {
  return new TextDecoder().decode(data);
}

async function main() {
  let nc;
  try {
    nc = await wsconnect({
      servers: params.get("server"),
      timeout: 5000,
      reconnect: false,
    });
  } catch (error) {
    await report({ ok: false, connected: false, error: String(error) });
    return;
  }
  steps.push("connected");

  // Pub/sub with itself.
  const echo = nc.subscribe("browser.echo", { max: 1 });
  nc.publish("browser.echo", "hello from the browser");
  for await (const message of echo) {
    if (message.string() !== "hello from the browser") throw new Error("echo: " + message.string());
  }
  steps.push("echo");

  // A message from the Rust side, sent once it hears we are ready.
  const fromRust = nc.subscribe("browser.from-rust", { max: 1 });
  await nc.flush();
  nc.publish("browser.ready", "ready");
  for await (const message of fromRust) {
    if (message.string() !== "hello from rust") throw new Error("from rust: " + message.string());
  }
  steps.push("from-rust");

  // Request/reply with headers, answered by the Rust side.
  const requestHeaders = headers();
  requestHeaders.set("X-Request", "42");
  const reply = await nc.request("browser.service", "ping", { timeout: 5000, headers: requestHeaders });
  if (reply.string() !== "PING!" || reply.headers?.get("X-Reply") !== "re:42") {
    throw new Error("reply: " + reply.string() + " " + reply.headers?.get("X-Reply"));
  }
  steps.push("request");

  // A large message both ways: the Rust side echoes it back on browser.big-back.
  const big = new Uint8Array(100000);
  for (let i = 0; i < big.length; i++) big[i] = 97 + (i % 26);
  const back = nc.subscribe("browser.big-back", { max: 1 });
  await nc.flush();
  nc.publish("browser.big", big);
  for await (const message of back) {
    if (text(message.data) !== text(big)) throw new Error("big message differs");
  }
  steps.push("big");

  const port = nc.info?.port;
  await nc.drain();
  await report({ ok: true, connected: true, port });
}

main().catch((error) => report({ ok: false, connected: true, error: String(error) }));
