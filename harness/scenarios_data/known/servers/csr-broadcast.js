// socketio/socket.io#4968 (and the redis-adapter report's in-memory baseline): a chat server relying on
// connection state recovery alone, as the reporter's `connectionStateRecovery: {}`: each message is
// stored, broadcast to everyone with its row id, and acknowledged. No app-level catch-up on reconnect:
// what a client missed while offline only comes back if its session is recovered.
//
// usage: node csr-broadcast.js --port PORT --db PATH
"use strict";

const { serve, chatArgs } = require("./common");

serve({ connectionStateRecovery: {} }, (io, store) => {
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      io.emit("chat message", content, store(content, clientOffset));
      ack();
    });
  });
});
