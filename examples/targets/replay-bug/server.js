// A planted bug: the tutorial's server-delivery step, except that its catch-up query reads
// `id >= serverOffset` where the tutorial writes `id > serverOffset`. Every client that reconnects
// receives the last message it already had once more, so at-most-once delivery, which the step
// promises, breaks. `sio-harness doctor` names it, and the server-delivery column finds `redelivered`.
//
// usage: node server.js --port PORT --db PATH
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const Database = require("better-sqlite3");

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const db = new Database(option("db", "chat.db"));
db.pragma("busy_timeout = 200");
db.exec(`CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  client_offset TEXT UNIQUE,
  content TEXT
)`);

const server = http.createServer((req, res) => {
  res.writeHead(req.url === "/health" ? 200 : 404);
  res.end();
});
const io = new Server(server, { connectionStateRecovery: {} });

io.on("connection", (socket) => {
  socket.on("chat message", (msg) => {
    let result;
    try {
      result = db.prepare("INSERT INTO messages (content) VALUES (?)").run(msg);
    } catch (e) {
      return;
    }
    io.emit("chat message", msg, Number(result.lastInsertRowid));
  });
  if (!socket.recovered) {
    try {
      const rows = db.prepare("SELECT id, content FROM messages WHERE id >= ?"); // the bug: >= for >
      for (const row of rows.iterate(socket.handshake.auth.serverOffset || 0)) {
        socket.emit("chat message", row.content, row.id);
      }
    } catch (e) {
      // something went wrong
    }
  }
});

process.on("SIGTERM", () => {
  io.close();
  db.close();
  process.exit(0);
});

server.listen(Number(option("port", 3000)), "127.0.0.1");
