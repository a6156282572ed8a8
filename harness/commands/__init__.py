"""The `sio-harness` subcommands that are not part of another package's idea, one module each.

`harness/cli.py` lists every command and the module it lives in; a command module exposes
`add_arguments(parser)` and `run(args) -> int`.
"""
