// The tutorial's chat page on the official socket.io-client, driven by sio-harness over stdin/stdout.
//
// One JSON object per line each way. Commands (stdin):
//   {"cmd":"open", "url", "serverOffset", "clientOffset", "policy", "options"}   once, first
//   {"cmd":"send", "id", "content"}        the form submit: computes the clientOffset, then emits
//   {"cmd":"engine_close"}                 socket.io.engine.close(): the client reconnects by itself
//   {"cmd":"disconnect"} / {"cmd":"connect"}   socket.disconnect() / socket.connect()
//   each of these three controls is answered by {"ev":"done"}
// Events (stdout):
//   {"ev":"invoked","id","client_offset"}  written before the emit, so it precedes that message's events
//   {"ev":"out","args"}                    a `chat message` handed to the transport (onAnyOutgoing): one try
//   {"ev":"ack","id","err"}                the send's final callback: err null on success, else its message
//   {"ev":"connect","sid","recovered","serverOffset"}   serverOffset: the auth sent for this connection
//   {"ev":"connect_error","message"}  {"ev":"disconnect","reason"}  {"ev":"recv","args"}
// The process exits when stdin closes, so it never outlives the harness.
"use strict";

const readline = require("node:readline");
const { io } = require("socket.io-client");

const EVENT = "chat message";
let socket = null;
let page = null;

function report(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function open(cmd) {
  page = {
    serverOffset: cmd.serverOffset,
    sentOffset: 0,
    counter: 0,
    lastId: undefined,
    policy: cmd.policy,
    clientOffset: cmd.clientOffset,
    placeholderId: cmd.placeholderId,
  };
  socket = io(cmd.url, {
    ...cmd.options,
    // The tutorial passes `auth: {serverOffset: 0}` and mutates it; a function is re-read on every
    // (re)connect just the same, and lets the driver report which offset each handshake carried.
    auth: (cb) => {
      page.sentOffset = page.serverOffset;
      cb(page.serverOffset === undefined ? {} : { serverOffset: page.serverOffset });
    },
  });
  socket.on("connect", () => {
    page.lastId = socket.id;
    report({ ev: "connect", sid: socket.id, recovered: Boolean(socket.recovered), serverOffset: page.sentOffset });
  });
  socket.on("connect_error", (err) => report({ ev: "connect_error", message: err.message }));
  socket.on("disconnect", (reason) => report({ ev: "disconnect", reason }));
  socket.on(EVENT, (...args) => {
    report({ ev: "recv", args });
    page.serverOffset = args[1];
  });
  socket.onAnyOutgoing((event, ...args) => {
    if (event === EVENT) report({ ev: "out", args });
  });
}

function clientOffset() {
  switch (page.clientOffset) {
    case "none":
      return undefined;
    case "socket-id-undefined":
      // The tutorial's own line: socket.id is undefined while offline.
      return `${socket.id}-${page.counter++}`;
    case "socket-id":
      return `${socket.id || page.lastId || page.placeholderId}-${page.counter++}`;
    default:
      throw new Error(`clientOffset style ${page.clientOffset} is computed by the harness`);
  }
}

function send(cmd) {
  const offset = cmd.clientOffset === undefined ? clientOffset() : cmd.clientOffset;
  report({ ev: "invoked", id: cmd.id, client_offset: offset === undefined ? null : offset });
  const args = offset === undefined ? [cmd.content] : [cmd.content, offset];
  const policy = page.policy;
  const done = (err) => report({ ev: "ack", id: cmd.id, err: err ? (err instanceof Error ? err.message : String(err)) : null });
  if (!policy.observe_ack) {
    socket.emit(EVENT, ...args);
  } else if (policy.manual_timeout !== null) {
    // The tutorial's `function emit(socket, event, arg)`: emit again on any error, without end.
    const attempt = () =>
      socket.timeout(policy.manual_timeout * 1000).emit(EVENT, ...args, (err) => (err ? attempt() : done(null)));
    attempt();
  } else if (policy.plain_callback) {
    socket.emit(EVENT, ...args, () => done(null));
  } else {
    socket.emit(EVENT, ...args, (err) => done(err));
  }
}

const commands = { open, send };
// Controls answer "done" once the client call returned, so the harness sees their events before it goes on.
const controls = {
  engine_close: () => socket.io.engine.close(),
  disconnect: () => socket.disconnect(),
  connect: () => socket.connect(),
};

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd in controls) {
    controls[cmd.cmd]();
    report({ ev: "done" });
  } else {
    commands[cmd.cmd](cmd);
  }
});
rl.on("close", () => process.exit(0));
