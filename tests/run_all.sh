#!/usr/bin/env bash
# Everything CI checks, in order: lint, unit tests, acceptance suites. Run through `./harness test`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=results/ci
rm -rf "$OUT" && mkdir -p "$OUT"
status=0

step() { echo; echo "==> $*"; }

step "ruff"
"$BIN/ruff" check keywords mock_acp tests
step "robocop"
"$BIN/robocop" check suites resources
step "pytest"
"$BIN/pytest" -q tests
step "robot: acceptance suites"
"$BIN/robot" --outputdir "$OUT" --exclude manual suites/ || status=$?
exit $status
