*** Settings ***
Documentation    The harness's own acceptance suites: bad input, broken daemons and bad scenario rows. Each case
...              fails with an error that says what was wrong and where, starts no process when the error can be
...              found first, and never hangs (every wait is bounded).

Test Tags        errors
