// socketio/socket.io-client#1546: a handler that does its work and
// acknowledges, with no de-duplication (each event it receives is processed, as the reports' servers
// do). Pings are short (500 ms + 500 ms) so that a dead connection is noticed in about a second, not
// in the default 45 s: the reports are about what happens in that window, not its length.
//
// usage: node dying-connection.js --port PORT --db PATH
"use strict";

const { serve, chatArgs } = require("./common");

serve({ pingInterval: 500, pingTimeout: 500 }, (io, store) => {
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      store(content, clientOffset);
      ack();
    });
  });
});
