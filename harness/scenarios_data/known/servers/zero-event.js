// socketio/socket.io#5538: the reporter's server. Connection state recovery on; a new socket joins a
// room and gets socket.data; the server deliberately emits nothing to its clients. The chat messages the
// harness sends are stored and acknowledged, never broadcast, so no client ever holds an offset.
//
// usage: node zero-event.js --port PORT --db PATH
"use strict";

const { serve, chatArgs } = require("./common");

serve({ connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 } }, (io, store) => {
  io.on("connection", async (socket) => {
    if (socket.recovered) return;
    await socket.join("room:alerts");
    socket.data.joinedAt = Date.now();
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      store(content, clientOffset);
      ack();
    });
  });
});
