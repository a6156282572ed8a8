"""The reference chat server: the Socket.IO tutorial's chat on python-socketio, its delivery steps as
profiles (`reference_server.profiles`), with deliberate breakages (`reference_server.mutants`) to prove
the harness's checkers. Run it with `python -m reference_server` or `sio-harness serve`."""
