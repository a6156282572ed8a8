// socketio/socket.io#4733: the maintainer's connection-state-recovery fiddle with the reporter's change:
// the server emits `foo` to everyone on a 20 s timer instead of a short one. Chat messages are stored
// and acknowledged; the timer's `foo` is the only event the server emits.
//
// usage: node quiet-ticker.js --port PORT --db PATH
"use strict";

const { serve, chatArgs } = require("./common");

serve({ connectionStateRecovery: {} }, (io, store) => {
  const timer = setInterval(() => io.emit("foo", Date.now()), 20000);
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      store(content, clientOffset);
      ack();
    });
  });
  return { close: () => clearInterval(timer) };
});
