"""The `sio-harness` subcommands that run scenarios (run, replay, list, validate, matrix, demo, explore,
soak, bench) and `setup`, which installs what a driver needs outside Python."""
