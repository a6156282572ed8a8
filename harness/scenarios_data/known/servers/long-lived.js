// socketio/socket.io#5282: the reporter's server, connection state recovery with the in-memory adapter,
// and a server that rarely emits: each chat message is stored, broadcast with its row id (so the client
// holds an offset) and acknowledged, nothing else. The adapter's sweep (every 60 s, fixed in
// socket.io-adapter) drops the packets *emitted* longer than maxDisconnectionDuration ago, whether or
// not a connected client's offset points at one of them. maxDisconnectionDuration is 10 s instead of
// the report's 2 min so that one sweep is enough (the relation the report needs: a client that got its
// last event longer than maxDisconnectionDuration ago, then a short disconnect).
//
// usage: node long-lived.js --port PORT --db PATH
"use strict";

const { serve, chatArgs } = require("./common");

serve({ connectionStateRecovery: { maxDisconnectionDuration: 10 * 1000 } }, (io, store) => {
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      io.emit("chat message", content, store(content, clientOffset));
      ack();
    });
  });
});
