*** Settings ***
Documentation    Scenarios written as table rows, one table per file: bursts, sustained load with bounds, limits
...              and permissions. Each row runs the real daemon with the mock agent, says in plain words whether
...              what its ``EXPECTED`` column (or its bounds) says happened, and records its figures, plots and
...              snapshot (``scenarios.json``/``.md`` in the output folder). docs/ADDING-SCENARIOS.md is the guide.
...
...              In report.html: [#totals|show every row of this run], or the rows of one table:
...              [#tags?table:bursts|bursts], [#tags?table:sustained|sustained], [#tags?table:limits|limits],
...              [#tags?table:permissions|permissions].

Test Tags        scenarios
