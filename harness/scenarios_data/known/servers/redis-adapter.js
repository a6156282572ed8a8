// socketio/socket.io-redis-adapter#532: connection state recovery on, with the classic Redis adapter
// (@socket.io/redis-adapter, pub/sub). A chat handler stores each message, broadcasts it with its row id
// and acknowledges it, so every client receives events before its connection drops (unlike the
// zero-event reports). One node is enough: the report is about the adapter, not about a second node.
//
// usage: node redis-adapter.js --port PORT --db PATH
"use strict";

const { load, serve, chatArgs } = require("./common");
const { startRedis } = require("./redis");

serve({ connectionStateRecovery: {} }, async (io, store) => {
  const redis = await startRedis();
  const { createAdapter } = load("@socket.io/redis-adapter");
  const sub = redis.client.duplicate();
  await sub.connect();
  io.adapter(createAdapter(redis.client, sub));
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      io.emit("chat message", content, store(content, clientOffset));
      ack();
    });
  });
  return { close: redis.close };
});
