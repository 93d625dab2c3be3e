#!/usr/bin/env bash
# Create or update the project's virtualenv, idempotently.
#
# The first run downloads several GB (torch from PyPI is the CUDA build with its
# nvidia-* wheels); pip's cache keeps them, so later runs - or a fresh clone on the
# same machine - install from the cache. When the venv already matches
# pyproject.toml + constraints.txt (a stamp holds their hash), nothing runs at all.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
STAMP="$VENV/.repwatch-installed"
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" ]]; then
  exit 0
fi

pick_python() {
  for p in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [[ -n "$p" ]] || continue
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  echo "repwatch: need Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [[ ! -x "$VENV/bin/python" ]]; then
  py=$(pick_python)
  echo "==> creating virtualenv $VENV with $($py --version)"
  "$py" -m venv "$VENV"
fi
echo "==> installing Python packages into $VENV (pinned by constraints.txt)"
echo "    first time on this machine: ~4 GB to download (torch + CUDA wheels), several minutes;"
echo "    afterwards pip's cache ($("$VENV/bin/python" -m pip cache dir 2>/dev/null || echo '~/.cache/pip')) is reused."
"$VENV/bin/python" -m pip install --quiet --upgrade "pip>=24" >/dev/null
"$VENV/bin/python" -m pip install --progress-bar on -c constraints.txt -e ".[test]"
echo "$want" > "$STAMP"
echo "==> Python environment ready"
