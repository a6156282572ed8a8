// socketio/socket.io#5539: the chat server relying on connection state recovery (as csr-broadcast.js),
// which also tells its clients its status with a volatile event, `io.volatile.emit("status", ...)` as in
// the report's reproduction, on a 250 ms timer (a volatile packet is dropped when the transport is busy,
// so it is not emitted right behind a broadcast). The in-memory adapter appends no offset to a volatile
// packet, but socket.io-client takes any trailing string argument of a received event for one.
//
// usage: node volatile-status.js --port PORT --db PATH
"use strict";

const { serve, chatArgs } = require("./common");

serve({ connectionStateRecovery: {} }, (io, store) => {
  const timer = setInterval(() => io.volatile.emit("status", "connected"), 250);
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      io.emit("chat message", content, store(content, clientOffset));
      ack();
    });
  });
  return { close: () => clearInterval(timer) };
});
