#!/usr/bin/env bash
# Everything CI checks, in order: lint, unit tests, acceptance suites. Run through `./harness test`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=results/ci
rm -rf "$OUT" && mkdir -p "$OUT"
started=$(date +%s)

step() { echo; echo "==> $* ($(( $(date +%s) - started )) s)"; }

step "lint: ruff, robocop"
"$BIN/ruff" check keywords mock_acp tests benchmarks
"$BIN/ruff" format --check keywords mock_acp tests benchmarks
"$BIN/robocop" check suites resources
"$BIN/robocop" format --check suites resources

step "headless Chromium for the log.html plot test"
bash tests/ensure_chromium.sh

step "pytest: units, mock conformance, harness guarantees"
"$BIN/pytest" -q tests

step "robot: acceptance suites"
"$BIN/robot" --outputdir "$OUT" --exclude manual suites/

step "done"
