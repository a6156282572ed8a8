// The tutorial's chat page on the official socket.io-client, driven by sio-harness over stdin/stdout.
//
// One JSON object per line each way. Commands (stdin):
//   {"cmd":"open", "url", "serverOffset", "clientOffset", "policy", "options", "protocol"}   once, first
//   (protocol: the app's events and offsets, harness/protocol.py's Protocol.to_js())
//   {"cmd":"send", "id", "content"}        the form submit: computes the clientOffset, then emits
//   {"cmd":"engine_close"}                 socket.io.engine.close(): the client reconnects by itself
//   {"cmd":"disconnect"} / {"cmd":"connect"}   socket.disconnect() / socket.connect()
//   each of these three controls is answered by {"ev":"done"}
// Events (stdout):
//   {"ev":"invoked","id","client_offset"}  written before the emit, so it precedes that message's events
//   {"ev":"out","content"}                 the send event handed to the transport (onAnyOutgoing): one try
//   {"ev":"ack","id","err","response"}     the send's final callback: err null on success, else its message;
//                                          response: the server's ack arguments
//   {"ev":"connect","sid","recovered","serverOffset"}   serverOffset: the auth sent for this connection
//   {"ev":"connect_error","message"}  {"ev":"disconnect","reason"}
//   {"ev":"recv","content","offset","csr"}  a broadcast decoded by the protocol; csr: the CSR offset or null
// One process runs one page, or many (the node driver's `shared` mode, for runs of hundreds of clients):
// then every command carries "page" (an id), every event carries it back, and {"cmd":"drop","page"} is a
// page refresh (the page's socket is closed without a goodbye and forgotten, its buffers and timers
// with it), answered by {"ev":"dropped"} once nothing of that page will be reported again.
// The process exits when stdin closes, so it never outlives the harness.
"use strict";

const readline = require("node:readline");
const { io } = require("socket.io-client");

const pages = new Map();

// JSON pointers (RFC 6901) into an event's arguments and into the auth object.
function tokens(pointer) {
  return pointer === "" ? [] : pointer.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function pointerGet(doc, pointer) {
  let value = doc;
  for (const token of tokens(pointer)) {
    if (value === null || typeof value !== "object" || !(token in value)) return undefined;
    value = value[token];
  }
  return value;
}

function pointerSet(doc, pointer, value) {
  const parts = tokens(pointer);
  let node = doc;
  for (const token of parts.slice(0, -1)) node = node[token] = node[token] || {};
  node[parts[parts.length - 1]] = value;
  return doc;
}

// The send template: "{content}" and "{client_offset}" stand for whole values; without an offset a
// trailing one is dropped, an object key removed, an inner argument null (as harness/protocol.py does).
const DROP = Symbol("drop");
function fill(template, content, offset) {
  if (template === "{content}") return content;
  if (template === "{client_offset}") return offset === undefined ? DROP : offset;
  if (Array.isArray(template)) return template.map((t) => fill(t, content, offset)).map((v) => (v === DROP ? null : v));
  if (template !== null && typeof template === "object") {
    const out = {};
    for (const [k, v] of Object.entries(template)) {
      const filled = fill(v, content, offset);
      if (filled !== DROP) out[k] = filled;
    }
    return out;
  }
  return template;
}

function encodeSend(protocol, content, offset) {
  const args = protocol.send.args.map((t) => fill(t, content, offset));
  while (args.length && args[args.length - 1] === DROP) args.pop();
  return args.map((v) => (v === DROP ? null : v));
}

function isOffset(value) {
  return typeof value === "string" || Number.isInteger(value);
}

function write(page, event) {
  if (page.dropped) return;
  if (page.id !== undefined) event.page = page.id;
  process.stdout.write(JSON.stringify(event) + "\n");
}

function open(cmd) {
  const protocol = cmd.protocol;
  const page = {
    id: cmd.page,
    dropped: false,
    protocol,
    serverOffset: cmd.serverOffset,
    sentOffset: 0,
    counter: 0,
    lastId: undefined,
    policy: cmd.policy,
    clientOffset: cmd.clientOffset,
    placeholderId: cmd.placeholderId,
  };
  pages.set(cmd.page, page);
  const report = (event) => write(page, event);
  const namespace = protocol.namespace === "/" ? "" : protocol.namespace;
  const socket = (page.socket = io(cmd.url + namespace, {
    ...cmd.options,
    path: protocol.path,
    // The tutorial passes `auth: {serverOffset: 0}` and mutates it; a function is re-read on every
    // (re)connect just the same, and lets the driver report which offset each handshake carried.
    auth: (cb) => {
      page.sentOffset = page.serverOffset;
      const auth = { ...(protocol.auth.fields || {}) };
      cb(page.serverOffset === undefined ? auth : pointerSet(auth, protocol.auth.offset, page.serverOffset));
    },
  }));
  socket.on("connect", () => {
    page.lastId = socket.id;
    report({ ev: "connect", sid: socket.id, recovered: Boolean(socket.recovered), serverOffset: page.sentOffset });
  });
  socket.on("connect_error", (err) => report({ ev: "connect_error", message: err.message }));
  socket.on("disconnect", (reason) => report({ ev: "disconnect", reason }));
  for (const name of protocol.receive.event) {
    socket.on(name, (...args) => {
      // socket.io-client leaves connection state recovery's offset as a last argument; split it off.
      const csr = socket._pid && args.length > 1 && typeof args[args.length - 1] === "string" ? args.pop() : null;
      const offset = pointerGet(args, protocol.receive.offset);
      report({ ev: "recv", content: pointerGet(args, protocol.receive.content) ?? null,
               offset: isOffset(offset) ? offset : null, csr });
      page.serverOffset = isOffset(offset) ? offset : undefined;
    });
  }
  socket.onAnyOutgoing((event, ...args) => {
    if (event === protocol.send.event) report({ ev: "out", content: pointerGet(args, protocol.contentPointer) ?? null });
  });
}

function clientOffset(page) {
  const socket = page.socket;
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

function send(page, cmd) {
  const report = (event) => write(page, event);
  const socket = page.socket;
  const offset = cmd.clientOffset === undefined ? clientOffset(page) : cmd.clientOffset;
  report({ ev: "invoked", id: cmd.id, client_offset: offset === undefined ? null : offset });
  const args = encodeSend(page.protocol, cmd.content, offset);
  const event = page.protocol.send.event;
  const policy = page.policy;
  const done = (err, response) => report({ ev: "ack", id: cmd.id, response: response === undefined ? [] : response,
                                           err: err ? (err instanceof Error ? err.message : String(err)) : null });
  if (!policy.observe_ack) {
    socket.emit(event, ...args);
  } else if (policy.manual_timeout !== null) {
    // The tutorial's `function emit(socket, event, arg)`: emit again on any error, without end.
    const attempt = () =>
      page.dropped ||
      socket.timeout(policy.manual_timeout * 1000).emit(event, ...args, (err, ...response) => (err ? attempt() : done(null, response)));
    attempt();
  } else if (policy.plain_callback) {
    socket.emit(event, ...args, (...response) => done(null, response));
  } else {
    socket.emit(event, ...args, (err, ...response) => done(err, response));
  }
}

// A refresh in a shared process: no more reports, then the manager closed without a Socket.IO goodbye
// (its transport closes as a tab's does, and no reconnection is left scheduled).
function drop(page) {
  write(page, { ev: "dropped" });
  page.dropped = true;
  page.socket.io.disconnect();
  pages.delete(page.id);
}

// Controls answer "done" once the client call returned, so the harness sees their events before it goes on.
const controls = {
  engine_close: (page) => page.socket.io.engine.close(),
  disconnect: (page) => page.socket.disconnect(),
  connect: (page) => page.socket.connect(),
};

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = JSON.parse(line);
  if (cmd.cmd === "open") {
    open(cmd);
    return;
  }
  const page = pages.get(cmd.page);
  if (cmd.cmd === "send") {
    send(page, cmd);
  } else if (cmd.cmd === "drop") {
    drop(page);
  } else {
    controls[cmd.cmd](page);
    write(page, { ev: "done" });
  }
});
rl.on("close", () => process.exit(0));
