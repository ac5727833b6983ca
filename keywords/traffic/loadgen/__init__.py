"""The load generator: several processes of our own entry point drive one open-model schedule.

- :mod:`.wire`: the transport (HTTP/1.1 and SSE on asyncio protocols, chosen by measurement);
- :mod:`.spec`: what a process is told and what it reports (JSON lines, histograms encoded);
- :mod:`.worker`: one process (``python -m keywords.traffic.loadgen.worker``);
- :mod:`.coordinator`: starts the processes through the harness's registry, one start time for all, merges their
  reports exactly, stops them early when told to;
- :mod:`.progress`: the live line.

Nothing here imports Robot Framework.
"""
