#!/usr/bin/env bash
# Run rotel (pip install rotel) with one of the profiles next to this script, in the
# foreground: forward | rlhf-only | ordinary-only. Extra arguments go to `rotel-agent start`.
#
# Reads: PYTHON (the interpreter whose `rotel` package and libpython to use; default python3),
#        ROTEL_AGENT (path of the rotel-agent binary; default: the one in that `rotel` package),
#        RLHF_OTEL_COLLECT_TOKEN (sent as "Authorization: Bearer <token>" unless
#        ROTEL_OTLP_EXPORTER_CUSTOM_HEADERS is set), and every variable the profile lists.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
profile="${1:?usage: run-rotel.sh forward|rlhf-only|ordinary-only [rotel-agent start options]}"
shift
[ -f "$here/$profile.env" ] || { echo "run-rotel.sh: no profile $here/$profile.env" >&2; exit 2; }
python="${PYTHON:-python3}"
agent="${ROTEL_AGENT:-$("$python" -c 'import pathlib, rotel; print(pathlib.Path(rotel.__file__).parent / "rotel-agent")')}"
# rotel embeds Python for its processors and links libpython of the same interpreter.
libdir="$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')"
export LD_LIBRARY_PATH="${libdir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RLHF_OTEL_ROTEL_DIR="$here"
set -a
# shellcheck disable=SC1090
. "$here/$profile.env"
set +a
if [ -n "${RLHF_OTEL_COLLECT_TOKEN:-}" ] && [ -z "${ROTEL_OTLP_EXPORTER_CUSTOM_HEADERS:-}" ]; then
  export ROTEL_OTLP_EXPORTER_CUSTOM_HEADERS="Authorization=Bearer ${RLHF_OTEL_COLLECT_TOKEN}"
fi
exec "$agent" start "$@"
