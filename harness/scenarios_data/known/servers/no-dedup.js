// socketio/socket.io#5334: a chat handler that processes every event it receives (stores it, broadcasts
// it with its row id) and acknowledges it, with socket.io's default options. No de-duplication: the
// report's server processes each copy it gets.
//
// usage: node no-dedup.js --port PORT --db PATH
"use strict";

const { serve, chatArgs } = require("./common");

serve({}, (io, store) => {
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      io.emit("chat message", content, store(content, clientOffset));
      ack();
    });
  });
});
