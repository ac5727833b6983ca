*** Settings ***
Documentation    Baseline of the ``qwen serve`` daemon: upstream's baseline suite (RSS scaling, attach
...              latency, MCP process amplification and accounting, SSE backpressure and replay, prompt
...              latency), measured through the real daemon on any machine with no model credentials.
...
...              Agents: RSS, attach, MCP, provider faults and prompt latency run the daemon's **real**
...              ``qwen --acp`` agent child, pointed at a fake OpenAI-compatible provider on 127.0.0.1 (a
...              thread of the Robot process) with a dummy key. SSE backpressure and replay use the **mock**
...              agent: they test the daemon's SSE path, and the mock streams thousands of chunks fast.
...
...              Process figures are read with psutil (no ``ps``, ``pgrep`` or ``/usr/bin/time``). Run with
...              ``robot --include baseline suites/``. Bounds and counts are variables
...              (``--variable PROMPT_ITERATIONS:100``). Figures go to ``results/perf-baseline.json`` / ``.md``
...              and to each test's message.

Test Tags        baseline
