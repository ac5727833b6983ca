"""Stand-ins around the daemon: the fake model provider, mock agent control, the one-shot CLI runner."""
