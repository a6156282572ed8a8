// socketio/socket.io#5334: a handler that processes every event it receives and acknowledges it, with
// socket.io's default options (no de-duplication: the report's server processes each copy it gets).
//
// usage: node no-dedup.js --port PORT --db PATH
"use strict";

const { serve, chatArgs } = require("./common");

serve({}, (io, store) => {
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      store(content, clientOffset);
      ack();
    });
  });
});
