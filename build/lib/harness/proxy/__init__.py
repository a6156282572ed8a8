"""Fault-injecting proxy: the Toxiproxy HTTP API with two backends, the real Toxiproxy and an embedded one.

- `control.ToxiproxyClient`: async client of the API (used by the harness for either backend).
- `backends.start_proxy_backend`: start (or find) a backend and get its API URL and client.
- `embedded.serve_embedded`: the embedded server in the current event loop; `sio-harness proxy` runs it
  standalone. Its extra `frame` toxic type acts on Socket.IO packets (see docs/proxy.md).
"""
