// The official socket.io-client against a CSR server: force a transport close and report what the
// socket saw. Prints one JSON object per line. Run with cwd = the project root (its node_modules).
//   node recovery_client.js <server url> <mode> [transports, comma-separated, default "websocket"]
// mode `app`:  the tests' recovery app; emits are made from the server's disconnect handler (`arm`),
//              i.e. while the client is away
// mode `chat`: the reference chat server; a second client sends a `chat message` while the first one
//              is away
const { io } = require("socket.io-client");

const [url, mode, transports = "websocket"] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const fail = (why) => { out({ ev: "error", why }); process.exit(1); };
setTimeout(() => fail("timeout"), 15000).unref();

// A fixed, short reconnection delay: the away-emits are made before it ends (see the modes).
const options = { transports: transports.split(","), reconnectionDelay: 300, reconnectionDelayMax: 300,
                  randomizationFactor: 0 };

function track(socket) {
  const seen = [];
  const shown = (arg) => (typeof arg === "function" ? "<ack>" : arg);
  socket.onAny((event, ...args) => seen.push([event, ...args.map(shown)]));
  return seen;
}

async function appMode() {
  const socket = io(url, { ...options, auth: { token: "t1" } });
  const seen = track(socket);
  let connects = 0;
  socket.on("connect", async () => {
    connects += 1;
    out({ ev: "connect", n: connects, id: socket.id, recovered: socket.recovered, seen: [...seen] });
    if (connects === 1) {
      await socket.emitWithAck("join", "room1");
      await socket.emitWithAck("set", "foo", "bar");
      await socket.emitWithAck("arm", [
        { event: "hello1", args: ["all"] },
        { event: "hello2", args: ["room"], to: "room1" },
        { event: "hello3", args: ["direct"], to: "self" },
        { event: "nope", args: ["other room"], to: "room2" },
        { event: "acked", args: ["with ack"], ack: true },
        { event: "vol", args: ["volatile"], volatile: true },
      ]);
      // One stored event first, so that the socket holds an offset.
      socket.once("hello0", () => socket.io.engine.close());
      await fetch(url + "/emit", { method: "POST", headers: { "content-type": "application/json" },
                                   body: JSON.stringify({ event: "hello0", args: ["before"] }) });
    } else {
      out({ ev: "whoami", value: await socket.emitWithAck("whoami") });
      socket.disconnect();
      process.exit(0);
    }
  });
  socket.on("disconnect", (reason) => out({ ev: "disconnect", reason, id: socket.id }));
}

async function chatMode() {
  const b = io(url, { ...options, auth: { serverOffset: 0 } });
  await new Promise((resolve) => b.once("connect", resolve));
  const a = io(url, { ...options, reconnectionDelay: 1000, reconnectionDelayMax: 1000,
                      auth: { serverOffset: 0 } });
  const seenA = track(a);
  let connects = 0;
  a.on("connect", () => {
    connects += 1;
    out({ ev: "connect", n: connects, id: a.id, recovered: a.recovered, seen: [...seenA] });
    if (connects === 1) {
      a.once("chat message", () => a.io.engine.close());
      b.emit("chat message", "csr-before");
    } else {
      a.disconnect();
      b.disconnect();
      process.exit(0);
    }
  });
  a.on("disconnect", (reason) => {
    out({ ev: "disconnect", reason });
    // B hears its own broadcast once the server has stored it, well inside A's 1 s reconnection delay.
    b.once("chat message", (...args) => out({ ev: "b-stored", args }));
    b.emit("chat message", "csr-missed");
  });
}

(mode === "chat" ? chatMode() : appMode()).catch((err) => fail(String(err)));
