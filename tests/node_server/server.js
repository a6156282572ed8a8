// A second implementation of the tutorial's chat server (step "exactly once"), used by the harness's
// tests as an external target started by a command line: socket.io 4.8 with connection state recovery,
// better-sqlite3 storage, ack after commit, clientOffset UNIQUE, serverOffset catch-up on reconnect.
//
// usage: node server.js --port PORT --db PATH
"use strict";

// Its packages are test-only, in this folder's own package.json (`make test` installs them), so that the
// demo's `npm install` never builds better-sqlite3.
const http = require("node:http");

const { Server } = require("socket.io");
const Database = require("better-sqlite3");

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(option("port", process.env.PORT || 3000));
const db = new Database(option("db", "chat.db"));
db.pragma("busy_timeout = 200");
db.exec(`CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  client_offset TEXT UNIQUE,
  content TEXT
)`);
const insert = db.prepare("INSERT INTO messages (content, client_offset) VALUES (?, ?)");
const since = db.prepare("SELECT id, content FROM messages WHERE id > ? ORDER BY id");

const server = http.createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404);
  res.end();
});
const io = new Server(server, { connectionStateRecovery: {} });

io.on("connection", (socket) => {
  socket.on("chat message", (msg, ...rest) => {
    const callback = typeof rest[rest.length - 1] === "function" ? rest.pop() : () => {};
    const clientOffset = typeof rest[0] === "string" ? rest[0] : null;
    if (typeof msg !== "string") return;
    let result;
    try {
      result = insert.run(msg, clientOffset);
    } catch (e) {
      if (e.code === "SQLITE_CONSTRAINT_UNIQUE") {
        callback(); // already stored: a retry
      }
      return; // any other failure: no ack, the client retries
    }
    io.emit("chat message", msg, Number(result.lastInsertRowid));
    callback();
  });

  if (!socket.recovered) {
    try {
      for (const row of since.iterate(socket.handshake.auth.serverOffset || 0)) {
        socket.emit("chat message", row.content, row.id);
      }
    } catch (e) {
      // the database is unavailable: the client catches up on its next connection
    }
  }
});

function stop() {
  io.close();
  db.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

server.listen(port, "127.0.0.1", () => {
  console.log(`tutorial server listening on 127.0.0.1:${port}`);
});
