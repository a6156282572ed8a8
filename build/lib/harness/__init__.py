"""sio-harness: proves, under real faults, which delivery guarantee a Socket.IO app keeps."""

__version__ = "0.1.0"
