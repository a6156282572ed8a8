// socketio/socket.io-client#1546: a chat handler that stores each message, broadcasts it with its row
// id and acknowledges it; no connection state recovery (the report predates it). Pings are short
// (500 ms + 500 ms) so that a dead connection is noticed in about a second, not in the default 45 s:
// the report is about what happens in that window, not about its length.
//
// usage: node dying-connection.js --port PORT --db PATH
"use strict";

const { serve, chatArgs } = require("./common");

serve({ pingInterval: 500, pingTimeout: 500 }, (io, store) => {
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      io.emit("chat message", content, store(content, clientOffset));
      ack();
    });
  });
});
