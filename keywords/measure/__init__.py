"""Measurement: the process tree, latency metrics, the A/B engine, the daemon-versus-CLI benchmark."""
