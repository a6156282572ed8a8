// socketio/socket.io-redis-adapter#532: connection state recovery on, with the classic Redis adapter
// (@socket.io/redis-adapter, pub/sub). A chat handler stores each message, broadcasts it with its row id
// and acknowledges it, so every client receives events before its connection drops (unlike the
// zero-event reports). One node is enough: the report is about the adapter, not about a second node.
//
// The server starts its own redis-server on a Unix socket (no TCP port; in the temporary folder, as a
// socket path must stay under 108 bytes) and stops it when it stops; a SIGKILL of this process group
// takes it down too.
//
// usage: node redis-adapter.js --port PORT --db PATH
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { load, serve, chatArgs } = require("./common");

const socketPath = path.join(os.tmpdir(), `sio-harness-redis-${process.pid}.sock`);

function startRedis() {
  const child = spawn("redis-server", ["--port", "0", "--unixsocket", socketPath, "--save", "", "--appendonly", "no"],
    { stdio: "ignore" });
  return new Promise((resolve, reject) => {
    const started = Date.now();
    child.on("error", reject);
    // redis-server creates the socket file once it accepts connections.
    const poll = setInterval(() => {
      if (fs.existsSync(socketPath)) {
        clearInterval(poll);
        resolve(child);
      } else if (Date.now() - started > 10000) {
        clearInterval(poll);
        reject(new Error("redis-server did not start"));
      }
    }, 20);
  });
}

serve({ connectionStateRecovery: {} }, async (io, store) => {
  const redis = await startRedis();
  const { createClient } = load("redis");
  const { createAdapter } = load("@socket.io/redis-adapter");
  const pub = createClient({ socket: { path: socketPath } });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      io.emit("chat message", content, store(content, clientOffset));
      ack();
    });
  });
  return {
    close: () => {
      redis.kill("SIGTERM");
      fs.rmSync(socketPath, { force: true });
    },
  };
});
