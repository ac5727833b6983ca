*** Settings ***
Documentation    Secrets and access: the bearer token is enforced on every route, never shows up on a command
...              line or in a log, and nothing the harness starts talks to anything but 127.0.0.1.

Test Tags        security
