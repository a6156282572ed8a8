// socketio/socket.io#5419: connection state recovery with the Redis streams adapter
// (@socket.io/redis-streams-adapter), which the reporter migrated to for recovery, over a redis-server of
// its own. Each chat message is stored, broadcast with its row id (through the stream: the stream
// entry's id is the event's CSR offset) and acknowledged. One node, as in the report's two tabs; or one
// of several nodes sharing the harness's Redis (`--redis`, targets/redis-streams-2-nodes.json), as in
// socket.io-redis-streams-adapter#27.
//
// usage: node redis-streams.js --port PORT --db PATH [--redis URL] [--ping-interval MS --ping-timeout MS]
//   REDIS_CHANNEL   with --redis: the prefix of the adapter's stream, channels and session keys
// The ping options (socket.io's 25 s and 20 s by default) let a client notice a frozen node within a run,
// as in socket.io-redis-streams-adapter#26 (targets/redis-streams-2-nodes-fast-ping.json).
"use strict";

const { load, option, serve, chatArgs } = require("./common");
const { startRedis } = require("./redis");

const pings = option("ping-interval")
  ? { pingInterval: Number(option("ping-interval")), pingTimeout: Number(option("ping-timeout", 20000)) } : {};

serve({ connectionStateRecovery: {}, ...pings }, async (io, store) => {
  const redis = await startRedis(option("redis"));
  const { createAdapter } = load("@socket.io/redis-streams-adapter");
  const prefix = process.env.REDIS_CHANNEL;
  io.adapter(createAdapter(redis.client, prefix
    ? { streamName: prefix, channelPrefix: prefix, sessionKeyPrefix: `${prefix}:session:` } : {}));
  io.on("connection", (socket) => {
    socket.on("chat message", (...args) => {
      const { content, clientOffset, ack } = chatArgs(args);
      io.emit("chat message", content, store(content, clientOffset));
      ack();
    });
  });
  return { close: redis.close };
});
