*** Settings ***
Documentation    Bad input and broken daemons: each case fails with an error that says what was wrong and where,
...              starts no process when the error can be found first, and never hangs (every wait is bounded).

Test Tags        errors
