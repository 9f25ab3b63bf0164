#!/usr/bin/env bash
# Debian packages the test suite needs beyond Python and PostgreSQL, each
# checked by the programs it provides. Missing ones are installed with apt-get
# when we are root (CI runs as root on a clean machine); otherwise we say what
# is missing and the tests that need it skip with a reason.
set -euo pipefail

# package: programs that prove it is installed
PACKAGES=(
  "prometheus: promtool prometheus"
  # The status page's webhook is tested, and drilled, against a real Alertmanager.
  "prometheus-alertmanager: prometheus-alertmanager amtool"
  # Playwright drives Debian's Chromium in tests/catalog/test_browser.py.
  "chromium: chromium"
  "chromium-driver: chromedriver"
  # The incident replay (make bench): the load generator and the PgBouncer it compares.
  "wrk: wrk"
  "pgbouncer: pgbouncer"
)

missing=()
for entry in "${PACKAGES[@]}"; do
  package=${entry%%:*}
  for program in ${entry#*:}; do
    if ! command -v "$program" >/dev/null 2>&1; then
      missing+=("$package")
      break
    fi
  done
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${missing[*]} (not root: the tests that need them will skip)" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
