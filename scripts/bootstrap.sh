#!/usr/bin/env bash
# Create/update the project's virtualenv from uv.lock (uv itself lives in .tools/).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Matinale needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi
if [ ! -x .tools/bin/uv ]; then
  "$PYTHON" -m venv .tools
  .tools/bin/pip install --quiet --disable-pip-version-check "uv==0.13.8"
fi
# --compile-bytecode: every task, test and bench process imports Airflow, pandas and friends;
# from bytecode that takes half the CPU it takes from source (which is what happens where
# PYTHONDONTWRITEBYTECODE is set, as on CI). Costs ~45 s once; a no-op when up to date.
UV_PYTHON_DOWNLOADS=never .tools/bin/uv sync --frozen --inexact --all-extras --compile-bytecode --python "$("$PYTHON" -c 'import sys; print(sys.executable)')" --quiet
# The project's own modules too (imported by path, not installed): stale files are recompiled.
.venv/bin/python -m compileall -q -j 0 plugins dags
