#!/usr/bin/env bash
# The demo console in a real headless Chromium (Debian's chromium and chromedriver, installed
# here when missing), driven by pinned Selenium from a virtualenv, against the release binary.
# Writes the README screenshot and the 10,000-machine first-paint figure under target/browser/
# (--screenshot PATH to write the screenshot elsewhere, e.g. docs/console.png). Run from anywhere:
#   tests/browser/run.sh [--screenshot docs/console.png]
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver (Debian)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

target="${CARGO_TARGET_DIR:-target}"
venv="${BROWSER_VENV:-$target/browser-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/browser/requirements.txt

bin="${DEFENDER_MOCK_BIN:-}"
if [ -z "$bin" ]; then
  # A no-op when the release build is up to date; a stale binary would test old code.
  cargo build --release --quiet
  bin="$target/release/defender-mock"
fi
exec "$venv/bin/python" tests/browser/console.py "$bin" --out "$target/browser" "$@"
