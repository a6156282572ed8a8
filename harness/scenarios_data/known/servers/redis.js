// A redis-server of the server's own, for the reports about Redis adapters: started on a Unix socket (no
// TCP port; in the temporary folder, as a socket path must stay under 108 bytes), stopped with the
// server. A SIGKILL of the server's process group takes it down too.
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { load } = require("./common");

// Resolves to {client, close}: a connected node-redis client, and how to stop everything. With `url` (the
// harness's Redis of a multi-node run, shared by the nodes) no redis-server is started; the client logs
// its errors instead of throwing, so a node survives a Redis outage the way the adapters expect.
function startRedis(url) {
  if (url) {
    const { createClient } = load("redis");
    const client = createClient({ url });
    client.on("error", (e) => console.error(`redis: ${e.message}`));
    return client.connect().then(() => ({ client, close: () => client.quit().catch(() => {}) }));
  }
  const socketPath = path.join(os.tmpdir(), `sio-harness-redis-${process.pid}.sock`);
  const child = spawn("redis-server", ["--port", "0", "--unixsocket", socketPath, "--save", "", "--appendonly", "no"],
    { stdio: "ignore" });
  const close = () => {
    child.kill("SIGTERM");
    fs.rmSync(socketPath, { force: true });
  };
  return new Promise((resolve, reject) => {
    const started = Date.now();
    child.on("error", reject);
    // redis-server creates the socket file once it accepts connections.
    const poll = setInterval(() => {
      if (fs.existsSync(socketPath)) {
        clearInterval(poll);
        const { createClient } = load("redis");
        const client = createClient({ socket: { path: socketPath } });
        client.connect().then(() => resolve({ client, close }), reject);
      } else if (Date.now() - started > 10000) {
        clearInterval(poll);
        close();
        reject(new Error("redis-server did not start"));
      }
    }, 20);
  });
}

module.exports = { startRedis };
