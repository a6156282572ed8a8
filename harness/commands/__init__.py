"""The `sio-harness` subcommands that run scenarios: run, replay, list, validate, matrix, demo."""
