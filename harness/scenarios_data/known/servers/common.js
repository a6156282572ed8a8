// What every minimal server of the known-issues catalogue shares, so each report's file shows only the
// application code the report is about: argument parsing, the npm packages, the harness's view of the
// stored messages (a SQLite `messages` table), /health, and a clean stop on SIGTERM.
//
// Packages come from this catalogue's own node_modules (its package.json), else the folder named by
// SIO_HARNESS_NODE_MODULES, else the project's node_modules.
"use strict";

const http = require("node:http");
const path = require("node:path");

const FOLDERS = [
  path.resolve(__dirname, "..", "node_modules"),
  process.env.SIO_HARNESS_NODE_MODULES,
  path.resolve(__dirname, "..", "..", "..", "..", "node_modules"),
].filter(Boolean);

function load(name) {
  for (const folder of FOLDERS) {
    try {
      return require(require.resolve(name, { paths: [folder] }));
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  throw new Error(`npm package ${name} not found (run \`make known-setup\`); looked in ${FOLDERS.join(", ")}`);
}

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

// The harness reads the final messages from this table: id is the server offset, content the message.
function openStore(file) {
  const Database = load("better-sqlite3");
  const db = new Database(file);
  db.exec(`CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_offset TEXT,
    content TEXT
  )`);
  const insert = db.prepare("INSERT INTO messages (content, client_offset) VALUES (?, ?)");
  return {
    db,
    store: (content, clientOffset) =>
      Number(insert.run(content, typeof clientOffset === "string" ? clientOffset : null).lastInsertRowid),
  };
}

// `serverOptions` go to socket.io's Server as the report wrote them; `setup(io, store)` is the report's app.
function serve(serverOptions, setup) {
  const { Server } = load("socket.io");
  const { db, store } = openStore(option("db", "known.db"));
  const server = http.createServer((req, res) => {
    res.writeHead(req.url === "/health" ? 200 : 404, { "content-type": "application/json" });
    res.end(req.url === "/health" ? '{"status":"ok"}' : "{}");
  });
  const io = new Server(server, serverOptions);
  let extra = {};
  const stop = () => {
    io.close();
    if (extra.close) extra.close();
    db.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // A setup may be asynchronous (an adapter connecting to Redis): listen, and so answer /health, after it.
  Promise.resolve(setup(io, store)).then((value) => {
    extra = value || {};
    server.listen(Number(option("port", 3000)), "127.0.0.1");
  }, (err) => {
    console.error(err);
    process.exit(1);
  });
  return io;
}

// The chat message handler's arguments as the tutorial's page sends them: (content, clientOffset?, ack?).
function chatArgs(args) {
  const ack = typeof args[args.length - 1] === "function" ? args.pop() : () => {};
  return { content: args[0], clientOffset: args[1], ack };
}

module.exports = { load, option, serve, chatArgs };
