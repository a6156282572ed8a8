// The Socket.IO tutorial's chat server at its exactly-once step, scaled out as the tutorial's next step
// does: several of these processes share one SQLite file and broadcast to each other through Redis with
// @socket.io/redis-streams-adapter, whose README says "Connection state recovery: YES": every broadcast
// is appended to one Redis stream (its entry id is the CSR offset), and a session dropped on one node is
// written to Redis when its connection closes, so a client that reconnects to another node recovers it.
// A node that is killed closes nothing and so writes no session (redis-streams-adapter issue 27).
//
// usage: node server.js --port PORT --db PATH --redis URL
//   REDIS_CHANNEL   prefix of the adapter's stream, pub/sub channels and session keys, default "socket.io"
//   PING_INTERVAL_MS, PING_TIMEOUT_MS   Socket.IO's pingInterval and pingTimeout
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-streams-adapter");
const { createClient } = require("redis");
const Database = require("better-sqlite3");

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(option("port", process.env.PORT || 3000));
const redisUrl = option("redis", "redis://127.0.0.1:6379");
const db = new Database(option("db", "chat.db"));
// Several processes write this file: a write waits up to 1 s for the lock another process holds instead
// of failing at once, and WAL lets them read while one writes. Switching to WAL ignores the busy timeout:
// the node that loses that race on a fresh file gets SQLITE_BUSY at once, and tries again.
db.pragma("busy_timeout = 1000");
for (let attempt = 1; ; attempt++) {
  try {
    db.pragma("journal_mode = WAL");
    break;
  } catch (e) {
    if (e.code !== "SQLITE_BUSY" || attempt === 50) throw e;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}
db.exec(`CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  client_offset TEXT UNIQUE,
  content TEXT
)`);

// One client: the adapter duplicates it for its blocking stream reads and its pub/sub. A node-redis client
// without an error listener throws (and the process dies) the first time Redis is unreachable.
const redisClient = createClient({ url: redisUrl });
redisClient.on("error", (e) => console.error(`redis: ${e.message}`));
const prefix = process.env.REDIS_CHANNEL || "socket.io";

const server = http.createServer((req, res) => {
  if (req.url === "/health") {
    const ok = redisClient.isReady;
    res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: ok ? "ok" : "connecting to redis" }));
    return;
  }
  res.writeHead(404);
  res.end();
});
const io = new Server(server, {
  connectionStateRecovery: {},
  adapter: createAdapter(redisClient, {
    streamName: prefix,
    channelPrefix: prefix,
    sessionKeyPrefix: `${prefix}:session:`,
  }),
  pingInterval: Number(process.env.PING_INTERVAL_MS) || 25000,
  pingTimeout: Number(process.env.PING_TIMEOUT_MS) || 20000,
});

io.on("connection", (socket) => {
  socket.on("chat message", (msg, clientOffset, callback) => {
    const ack = typeof callback === "function" ? callback : () => {};
    let result;
    try {
      result = db.prepare("INSERT INTO messages (content, client_offset) VALUES (?, ?)").run(msg, clientOffset);
    } catch (e) {
      if (e.code === "SQLITE_CONSTRAINT_UNIQUE") {
        // the message was already inserted, so we notify the client
        ack();
      }
      // otherwise nothing to do, just let the client retry
      return;
    }
    io.emit("chat message", msg, Number(result.lastInsertRowid));
    ack();
  });

  if (!socket.recovered) {
    // if the connection state recovery was not successful
    try {
      const rows = db.prepare("SELECT id, content FROM messages WHERE id > ?");
      for (const row of rows.iterate(socket.handshake.auth.serverOffset || 0)) {
        socket.emit("chat message", row.content, row.id);
      }
    } catch (e) {
      // something went wrong
    }
  }
});

async function stop() {
  // Closing the connections writes each session to Redis; quitting the client waits for those writes.
  io.close();
  await redisClient.quit().catch(() => {});
  db.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

redisClient.connect().then(() => {
  server.listen(port, "127.0.0.1", () => {
    console.log(`chat node (redis-streams-adapter) listening on 127.0.0.1:${port}`);
  });
});
