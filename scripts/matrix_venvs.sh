#!/usr/bin/env bash
# Creates one venv per instrumentation family of the dialect matrix (tests/matrix), each with
# rlhf-otel (editable) and that family's real PyPI packages, pinned. Families whose pins may
# conflict stay apart. Idempotent: a venv whose pins file is unchanged is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
ROOT=.cache/matrix-venvs
mkdir -p "$ROOT"
COMMON="openai==3.63.0 anthropic==2.17.0 opentelemetry-exporter-otlp-proto-http>=1.27,<2"
declare -A FAMILY=(
  [openinference]="openinference-instrumentation==0.1.72 openinference-semantic-conventions==0.1.42 openinference-instrumentation-openai==0.1.66 openinference-instrumentation-anthropic==3.1.0 opentelemetry-instrumentation-openai-v2==2.4b0 opentelemetry-util-genai==1.1b0"
  [openllmetry]="opentelemetry-instrumentation-openai==0.62.4 opentelemetry-instrumentation-anthropic==0.62.4 opentelemetry-semantic-conventions-ai==0.5.1"
  [openllmetry-legacy]="opentelemetry-instrumentation-openai==0.47.3 opentelemetry-semantic-conventions-ai==0.4.13 opentelemetry-api==1.36.0 opentelemetry-sdk==1.36.0 opentelemetry-exporter-otlp-proto-http==1.36.0 opentelemetry-instrumentation==0.57b0 opentelemetry-semantic-conventions==0.57b0"
  [langchain]="openinference-instrumentation==0.1.72 openinference-semantic-conventions==0.1.42 openinference-instrumentation-langchain==0.1.80 langchain-core==1.7.7 langchain-openai==1.7.4"
  [logfire]="logfire==5.4.0 logfire-sdk==5.4.0"
)
for name in "${!FAMILY[@]}"; do
  venv="$ROOT/$name"
  pins="$COMMON ${FAMILY[$name]}"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/pins" 2>/dev/null)" = "$pins" ]; then
    continue
  fi
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  # shellcheck disable=SC2086  # the pins are words
  "$venv/bin/python" -m pip install -q -e . $pins
  echo "$pins" > "$venv/pins"
done
