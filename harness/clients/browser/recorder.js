// The harness's recorder inside the page: injected by the browser driver before the page's own scripts
// (Playwright's add_init_script), after one line that sets `window.__sioHarnessConfig`.
//
// It catches the page's call to `io()` (the `io` global that /socket.io/socket.io.js defines) and:
// - sets the socket.io-client options of the scenario's step (transports, ackTimeout, retries,
//   reconnection delays) over the page's own, since the reference server's page is the tutorial's last step;
// - listens on the socket before the page does, and reports what the page observes through the exposed
//   binding `__sioHarnessReport`, one object per observation, in order:
//     {ev:"hello"}                                 the document started (first report of every load)
//     {ev:"invoked", id, client_offset}             the page's submit handler emitted `chat message`
//     {ev:"out", args}                              a `chat message` handed to the transport: one try
//     {ev:"ack", id, err}                           the send's final callback: err null on success
//     {ev:"connect", sid, recovered, serverOffset}  serverOffset: the auth sent for this connection
//     {ev:"connect_error", message}  {ev:"disconnect", reason}  {ev:"recv", args}
//   the reports of one task go out together as `{doc, events}`; `doc`, the id of this document, keeps a
//   report of a page that is being reloaded from being taken for one of the page that replaces it;
// - in the tutorial's page ("tutorial" mode) applies the step's send policy to the page's emit (the ack
//   callback, the manual retry, the clientOffset style), as the python and node drivers do; in a page that
//   owns its delivery ("own" mode, the durable page) it only watches: the page's clientOffset and callback
//   are kept, and only a success is reported, since such a page retries failures itself.
"use strict";
(() => {
  const cfg = window.__sioHarnessConfig;
  const EVENT = "chat message";
  const OFFSET_KEY = "sio-harness:serverOffset";
  const doc = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  // Reports made in one task go out as one binding call (a submit reports `invoked` and `out` together):
  // each call costs a round trip to the harness. The order is kept. After a navigation that changed the
  // renderer process (from the browser's error page) the binding can appear after this script has run:
  // the reports wait for it.
  let batch = [];
  let scheduled = false;
  const flush = () => {
    if (typeof window.__sioHarnessReport !== "function") {
      setTimeout(flush, 5);
      return;
    }
    scheduled = false;
    const events = batch;
    batch = [];
    window.__sioHarnessReport({ doc, events });
  };
  const report = (event) => {
    batch.push(event);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };
  report({ ev: "hello", url: location.href });

  const randomHex = (bytes) =>
    Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
  const placeholderId = randomHex(10);
  const messageId = (content) => (typeof content === "string" ? content.split(" ")[0] : null);

  let realIo = null;
  function harnessIo(uri, opts) {
    if (typeof uri === "object" && uri !== null) {
      opts = uri;
      uri = undefined;
    }
    const options = { ...(opts || {}) };
    if (cfg.mode === "tutorial") {
      delete options.ackTimeout;
      delete options.retries;
    }
    Object.assign(options, cfg.options);
    const socket = uri === undefined ? realIo(options) : realIo(uri, options);
    instrument(socket);
    return socket;
  }

  Object.defineProperty(window, "io", {
    configurable: true,
    get: () => (realIo === null ? undefined : harnessIo),
    set: (value) => {
      realIo = value;
      Object.assign(harnessIo, value);
    },
  });

  function instrument(socket) {
    const page = { sentOffset: 0, lastId: undefined, counter: 0, invoked: new Set() };
    // The page mutates `socket.auth.serverOffset`; a function with the same property is re-read on every
    // (re)connect just the same, and tells which offset each handshake carried.
    const pageAuth = typeof socket.auth === "object" && socket.auth !== null ? socket.auth : {};
    const auth = function (cb) {
      page.sentOffset = auth.serverOffset;
      const data = {};
      for (const key of Object.keys(auth)) if (auth[key] !== undefined) data[key] = auth[key];
      cb(data);
    };
    Object.assign(auth, pageAuth);
    if (cfg.persistOffset) {
      const kept = localStorage.getItem(OFFSET_KEY);
      if (kept !== null) auth.serverOffset = JSON.parse(kept);
    }
    socket.auth = auth;
    window.__sioHarnessSocket = socket;

    socket.on("connect", () => {
      page.lastId = socket.id;
      report({ ev: "connect", sid: socket.id, recovered: Boolean(socket.recovered), serverOffset: page.sentOffset });
    });
    socket.on("connect_error", (err) => report({ ev: "connect_error", message: err.message }));
    socket.on("disconnect", (reason) => report({ ev: "disconnect", reason }));
    socket.on(EVENT, (...args) => {
      report({ ev: "recv", args });
      if (cfg.persistOffset) localStorage.setItem(OFFSET_KEY, JSON.stringify(args[1] === undefined ? null : args[1]));
    });
    socket.onAnyOutgoing((event, ...args) => {
      if (event === EVENT) report({ ev: "out", args });
    });

    const protoEmit = Object.getPrototypeOf(socket).emit;
    socket.emit = function (event, ...args) {
      // The retries queue re-enters emit for each try: those are the client's, not the page's.
      if (event !== EVENT || this.flags.fromQueue) return protoEmit.call(this, event, ...args);
      if (cfg.mode === "own") return ownSend(args);
      tutorialSend(args);
      return this;
    };

    function clientOffset(pageOffset) {
      switch (cfg.clientOffset) {
        case "none":
          return undefined;
        case "socket-id-undefined":
          return pageOffset; // the tutorial's own line: `${socket.id}-${counter++}`, undefined-N offline
        case "socket-id":
          return `${socket.id || page.lastId || placeholderId}-${page.counter++}`;
        default:
          return randomHex(16);
      }
    }

    function tutorialSend(args) {
      const content = args[0];
      const id = messageId(content);
      const offset = clientOffset(args[1]);
      report({ ev: "invoked", id, client_offset: offset === undefined ? null : offset });
      const out = offset === undefined ? [content] : [content, offset];
      const policy = cfg.policy;
      const done = (err) =>
        report({ ev: "ack", id, err: err ? (err instanceof Error ? err.message : String(err)) : null });
      if (!policy.observe_ack) {
        protoEmit.call(socket, EVENT, ...out);
      } else if (policy.manual_timeout !== null) {
        // The tutorial's `function emit(socket, event, arg)`: emit again on any error, without end.
        const attempt = () =>
          protoEmit.call(socket.timeout(policy.manual_timeout * 1000), EVENT, ...out, (err) =>
            err ? attempt() : done(null));
        attempt();
      } else if (policy.plain_callback) {
        protoEmit.call(socket, EVENT, ...out, () => done(null));
      } else {
        protoEmit.call(socket, EVENT, ...out, (err) => done(err));
      }
    }

    function ownSend(args) {
      const id = messageId(args[0]);
      if (!page.invoked.has(id)) {
        page.invoked.add(id);
        report({ ev: "invoked", id, client_offset: typeof args[1] === "string" ? args[1] : null });
      }
      const last = args.length - 1;
      if (typeof args[last] === "function") {
        const callback = args[last];
        args[last] = (err, ...rest) => {
          if (!err) report({ ev: "ack", id, err: null });
          return callback(err, ...rest);
        };
      }
      return protoEmit.call(socket, EVENT, ...args);
    }
  }
})();
