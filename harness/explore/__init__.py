"""What `sio-harness explore` does once the search (harness.strategies) has found a failing schedule:
shrink it to its cause, prove that it replays, and write what the search covered (docs/explore.md)."""
