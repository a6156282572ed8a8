// The tutorial's chat client on the official socket.io-client, driven by tests/test_server_node_client.py.
// Usage (cwd = repository root, so require() finds node_modules):
//   node tests/node/tutorial_client.js URL replay    leave with socket.disconnect(): caught up by the replay
//   node tests/node/tutorial_client.js URL recover   lose the transport: caught up by state recovery
// Prints one JSON line with what it observed; exits 1 with a reason on stderr when something hangs.
const { io } = require("socket.io-client");

const [url, scenario] = process.argv.slice(2);
// reconnection is off so that the test, not a timer, decides when the client comes back.
const options = {
  auth: { serverOffset: 0 }, ackTimeout: 10000, retries: 3, transports: ["websocket"], reconnection: false,
};
const deadline = setTimeout(() => {
  console.error("tutorial_client: no result after 15 s");
  process.exit(1);
}, 15000);

function chatPage() {
  // As on the tutorial's page: remember the last serverOffset, number messages `${socket.id}-${counter}`.
  const socket = io(url, { ...options, auth: { ...options.auth }, forceNew: true });
  const page = { socket, counter: 0, received: [], waiters: [] };
  socket.on("chat message", (msg, serverOffset) => {
    page.received.push([msg, serverOffset]);
    socket.auth.serverOffset = serverOffset;
    page.waiters = page.waiters.filter((w) => !w());
  });
  return page;
}

function until(page, predicate) {
  return new Promise((resolve) => {
    const check = () => (predicate() ? (resolve(), true) : false);
    if (!check()) page.waiters.push(check);
  });
}

function send(page, content, clientOffset = `${page.socket.id}-${page.counter++}`) {
  // With ackTimeout + retries the callback is error-first; it gets an error only after every try failed.
  return new Promise((resolve, reject) => {
    page.socket.emit("chat message", content, clientOffset, (err, ...ack) => (err ? reject(err) : resolve(ack)));
  }).then((ack) => ({ clientOffset, ack }));
}

const connected = (socket) => (socket.connected ? Promise.resolve() : new Promise((r) => socket.once("connect", r)));

async function main() {
  const alice = chatPage();
  await connected(alice.socket);
  const first = await send(alice, "js hello");
  const again = await send(alice, "js hello", first.clientOffset); // a retry the server must not store twice
  await until(alice, () => alice.received.some(([m]) => m === "js hello"));
  const offsetBeforeLeaving = alice.socket.auth.serverOffset;
  const gone = new Promise((resolve) => alice.socket.once("disconnect", resolve));
  if (scenario === "recover") {
    alice.socket.io.engine.close(); // the server sees "transport close" and keeps the session
  } else {
    alice.socket.disconnect(); // "client namespace disconnect": no session is kept
  }
  const reason = await gone;

  const bob = chatPage();
  await connected(bob.socket);
  await send(bob, "sent while alice was away");
  bob.socket.disconnect();

  alice.socket.connect();
  await until(alice, () => alice.received.some(([m]) => m === "sent while alice was away"));
  console.log(JSON.stringify({
    acks: [first.ack, again.ack],
    offsetBeforeLeaving,
    reason,
    received: alice.received,
    recovered: alice.socket.recovered,
  }));
  alice.socket.disconnect();
  clearTimeout(deadline);
}

main().catch((err) => {
  console.error(`tutorial_client: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
