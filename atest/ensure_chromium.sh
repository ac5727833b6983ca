#!/usr/bin/env bash
# Make sure a headless Chromium is available for atest/test_log_plots_browser.py.
# Installs Debian's `chromium` package when it is absent and we can (root, apt-get); otherwise says what to do.
# Prints the browser's path on success.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        exit 0
    fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: installing Debian's chromium package" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
    command -v chromium
    exit 0
fi
echo "ensure_chromium: no chromium found and cannot install it (need root and apt-get);" \
    "install it with: sudo apt-get install chromium" >&2
exit 1
