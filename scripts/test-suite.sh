#!/usr/bin/env bash
# The real-clock part of `make test`: every test, with the stack test (`-m stack`, the native
# production topology) in the background beside the others. The stack test spends most of its
# six minutes waiting for its clocks (the deadline, then the approval's close), so running it
# alone would leave both cores idle; its output goes to test-artifacts/stack.log and its summary
# is printed at the end (the whole log when it fails).
#
#   scripts/test-suite.sh [PYTEST ARGS ...]   extra arguments go to the foreground run
set -uo pipefail
cd "$(dirname "$0")/.."

out=test-artifacts
mkdir -p "$out"
stack_log="$out/stack.log"

.venv/bin/python -m pytest -q -p no:cacheprovider -m stack -rA --durations=5 >"$stack_log" 2>&1 &
stack_pid=$!
trap 'kill -- "$stack_pid" 2>/dev/null' INT TERM

.venv/bin/python -m pytest -m "not stack" "$@"
rest=$?

wait "$stack_pid"
stack=$?
if [ "$stack" -eq 0 ]; then
  echo "stack tests (background, log in $stack_log): $(tail -n 1 "$stack_log" | tr -d '=')"
else
  echo "stack tests (background) FAILED; $stack_log:"
  cat "$stack_log"
fi
[ "$rest" -eq 0 ] && [ "$stack" -eq 0 ]
