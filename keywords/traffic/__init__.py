"""Traffic to the daemon: HTTP client, SSE streams, prompt turns, concurrent flows, open-model load, raw connections."""
