// The Socket.IO tutorial's chat server ("Handle disconnects"), at the step named by TUTORIAL_STEP:
//
//   csr              connectionStateRecovery only: no ack, no replay on reconnection
//   server-delivery  + on a connection that was not recovered, send the rows with id > auth.serverOffset
//   exactly-once     + client_offset stored UNIQUE, the event acknowledged after the commit (default)
//
// Each step is written as the tutorial writes it, with better-sqlite3 in place of the `sqlite` package.
// At the csr step the tutorial keeps no database yet; here the messages are stored as at the next step
// (without being replayed), so the harness can read what the server kept.
//
// usage: TUTORIAL_STEP=csr node server.js --port PORT --db PATH
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const Database = require("better-sqlite3");

const STEPS = ["csr", "server-delivery", "exactly-once"];
const step = process.env.TUTORIAL_STEP || "exactly-once";
if (!STEPS.includes(step)) {
  console.error(`TUTORIAL_STEP must be one of ${STEPS.join(", ")}, not ${JSON.stringify(step)}`);
  process.exit(2);
}

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(option("port", process.env.PORT || 3000));
const db = new Database(option("db", "chat.db"));
// A short busy timeout: while the database is locked, an insert fails as the tutorial's "TODO handle
// the failure" branch expects, instead of hanging.
db.pragma("busy_timeout = 200");
db.exec(`CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  client_offset TEXT UNIQUE,
  content TEXT
)`);

const server = http.createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "ok", step }));
    return;
  }
  res.writeHead(404);
  res.end();
});
// The harness shortens the ping to notice a half-open link quickly (PING_*_MS); Socket.IO's defaults otherwise.
const io = new Server(server, {
  connectionStateRecovery: {},
  pingInterval: Number(process.env.PING_INTERVAL_MS) || 25000,
  pingTimeout: Number(process.env.PING_TIMEOUT_MS) || 20000,
});

function storeAndBroadcast(socket) {
  socket.on("chat message", (msg) => {
    let result;
    try {
      result = db.prepare("INSERT INTO messages (content) VALUES (?)").run(msg);
    } catch (e) {
      // TODO handle the failure
      return;
    }
    io.emit("chat message", msg, Number(result.lastInsertRowid));
  });
}

function storeOnceAndAck(socket) {
  socket.on("chat message", (msg, clientOffset, callback) => {
    // The tutorial's page always sends a clientOffset and asks for an ack at this step; a client that
    // does not would make `callback()` throw.
    const ack = typeof callback === "function" ? callback : () => {};
    let result;
    try {
      result = db.prepare("INSERT INTO messages (content, client_offset) VALUES (?, ?)").run(msg, clientOffset);
    } catch (e) {
      if (e.code === "SQLITE_CONSTRAINT_UNIQUE") {
        // the message was already inserted, so we notify the client
        ack();
      } else {
        // nothing to do, just let the client retry
      }
      return;
    }
    io.emit("chat message", msg, Number(result.lastInsertRowid));
    // acknowledge the event
    ack();
  });
}

function sendMissing(socket) {
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
}

io.on("connection", (socket) => {
  if (step === "exactly-once") {
    storeOnceAndAck(socket);
  } else {
    storeAndBroadcast(socket);
  }
  if (step !== "csr") {
    sendMissing(socket);
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
  console.log(`tutorial server (${step}) listening on 127.0.0.1:${port}`);
});
