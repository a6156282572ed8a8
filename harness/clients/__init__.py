"""Client drivers: the tutorial's chat page, played by python-socketio or the official JS client."""
