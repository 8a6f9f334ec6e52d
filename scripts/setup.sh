#!/usr/bin/env bash
# Creates .venv and installs rlhf-otel with everything its tests need. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
# Headless Chromium renders the HTML report in its test (Debian's package, as root).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# Spark (pyspark, local mode) reads the Parquet lake in its test; it needs a Java runtime.
if ! command -v java >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]" -e ./instrumentation/openai
# The TypeScript example (a Node chat on the Vercel AI SDK) and its end-to-end test: exact
# versions from package-lock.json; no install scripts, so nothing downloads a browser.
if command -v npm >/dev/null 2>&1; then
  (cd examples/typescript && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
else
  echo "setup: npm not found: examples/typescript is not installed (install Node >= 20)" >&2
fi
# axe-core for the accessibility checks of the review app, widget and report (tests/a11y).
if command -v npm >/dev/null 2>&1; then
  (cd tests/a11y && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
else
  echo "setup: npm not found: tests/a11y (axe-core) is not installed (install Node >= 20)" >&2
fi
# The dialect matrix (tests/matrix): one venv per instrumentation family, real PyPI packages, pinned.
PYTHON="$PYTHON" ./scripts/matrix_venvs.sh
