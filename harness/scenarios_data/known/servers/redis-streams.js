// socketio/socket.io#5419: connection state recovery with the Redis streams adapter
// (@socket.io/redis-streams-adapter), which the reporter migrated to for recovery, over a redis-server of
// its own. Each chat message is stored, broadcast with its row id (through the stream: the stream
// entry's id is the event's CSR offset) and acknowledged. One node, as in the report's two tabs.
//
// usage: node redis-streams.js --port PORT --db PATH
"use strict";

const { load, serve, chatArgs } = require("./common");
const { startRedis } = require("./redis");

serve({ connectionStateRecovery: {} }, async (io, store) => {
  const redis = await startRedis();
  const { createAdapter } = load("@socket.io/redis-streams-adapter");
  io.adapter(createAdapter(redis.client));
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      io.emit("chat message", content, store(content, clientOffset));
      ack();
    });
  });
  return { close: redis.close };
});
