"""The daemon under test and its processes: provisioning, spawn, flags, the process registry, watchdog, run metadata."""
