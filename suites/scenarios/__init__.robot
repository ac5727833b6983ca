*** Settings ***
Documentation    Scenarios written as table rows: each row runs the real daemon with the mock agent under
...              a burst of sessions and reports its figures, plots and snapshot
...              (``results/scenarios.json``/``.md``). See ``docs/ADDING-SCENARIOS.md`` to add a row.

Test Tags        scenarios
