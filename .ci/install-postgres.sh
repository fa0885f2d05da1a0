#!/usr/bin/env bash
# PostgreSQL for tests/test_grade_postgres.py, which starts its own throw-away server.
# Installed with apt-get when we are root; otherwise that test says why it is skipped.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing PostgreSQL for the gradebook test..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
else
  echo "PostgreSQL is not installed and cannot be installed here: its gradebook test will be skipped." >&2
fi
