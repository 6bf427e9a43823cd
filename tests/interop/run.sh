#!/usr/bin/env bash
# Interop with the real Microsoft client libraries (MSAL, azure-identity, requests) against the
# release binary over HTTPS. Installs the pinned libraries into a virtualenv (PyPI), builds the
# binary if needed, and exits non-zero when any check fails. Run from anywhere:
#   tests/interop/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${INTEROP_VENV:-target/interop-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
bin="${DEFENDER_MOCK_BIN:-}"
if [ -z "$bin" ]; then
  # Always (re)build: a stale release binary would test old code. A no-op when up to date.
  cargo build --release --quiet
  bin=target/release/defender-mock
fi
status=0
"$venv/bin/python" tests/interop/interop.py "$bin" || status=$?
# A playbook's whole incident flow (alerts, tags, isolation by aadDeviceId, indicators), written
# against Microsoft's documentation with plain requests and the WDATP-era resource.
"$venv/bin/python" tests/interop/incident_flow.py "$bin" || status=$?
exit "$status"
