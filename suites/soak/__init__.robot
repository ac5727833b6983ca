*** Settings ***
Documentation    Does the daemon leak over time: a soak with a verdict per series.
...
...              A constant load runs for ``${SOAK_DURATION}`` (default 10 minutes) while the daemon's RSS, its
...              agent child's RSS, the daemon's heap (``/daemon/status`` ``runtime.process``), its open file
...              descriptors and threads are sampled. After the warm-up each series gets a linear fit over block
...              means with a 95 % interval on the slope: *leak* when the interval lies above the bound
...              (``${MEMORY_BOUND_MB_PER_HOUR}`` MB/hour for memory), *flat* when it contains 0, *inconclusive*
...              otherwise. The long tests are tagged ``manual`` (not in the default or CI runs); the 60 s
...              variant (``soak-short``) proves the machinery in CI. Figures go to ``results/soak.json`` /
...              ``.md``; the log has one plot per series with its fit. Run with
...              ``robot --include soak --exclude nothing suites/soak``.

Test Tags        soak
