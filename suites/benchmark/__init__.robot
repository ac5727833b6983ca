*** Settings ***
Documentation    Daemon versus one-shot CLI benchmark: upstream's twelve scenarios (C1–C12) with the model
...              phase always run against a fake OpenAI-compatible provider, plus an A/B comparison of two
...              daemon builds interleaved A B B A.
...
...              Run with ``robot --include benchmark suites/``; ``--variable HEAVY:True`` raises iterations,
...              concurrency, window and churn rounds to upstream's heavy values. Figures go to
...              ``daemon-vs-cli-benchmark.json`` / ``.md`` (the A/B comparison: ``build-comparison.json``) in
...              the output folder and to each test's message. Bounds are upstream's; the point is the recorded
...              figures. Select only the build comparison with
...              ``--include compare`` (``--variable COMPARE_B_ENTRY:/path/to/your/dist/cli.js``).

Test Tags        benchmark
