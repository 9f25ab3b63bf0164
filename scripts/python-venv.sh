#!/usr/bin/env bash
# Python 3.11+ that can create a virtualenv, or one line saying what is missing.
#
# Debian's python3 leaves venv's pip bootstrap (ensurepip) to the python3-venv
# package, and `python3 -m venv` then fails with a page of advice. As root we
# install the package; otherwise we name it.
set -euo pipefail
python=${1:-python3}

if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found: WidgetWorld needs Python 3.11 or newer (set PYTHON=...)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: WidgetWorld needs Python 3.11 or newer ($python is $("$python" -V 2>&1))" >&2
  exit 1
fi
if "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "python: installing python3-venv ($python cannot create a virtualenv without it)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  "$python" -c 'import ensurepip, venv' 2>/dev/null && exit 0
fi
echo "error: $python cannot create a virtualenv: install the Debian package python3-venv (sudo apt-get install python3-venv)" >&2
exit 1
