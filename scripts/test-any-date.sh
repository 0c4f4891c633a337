#!/usr/bin/env bash
# The suite passes on any date: every test that starts no server (markers s3, browser, stack,
# e2e; a server keeps the real clock, so S3 signatures would be skewed) runs again under
# Debian's libfaketime at the instants where a night's clocks are most likely to go wrong.
# The monotonic clock is faked too (FAKETIME_DONT_FAKE_MONOTONIC breaks Python's sleep).
#
#   scripts/test-any-date.sh            all instants below (three at a time on two cores: five
#                                       passes end sooner in rounds of 3 + 2 than of 2 + 2 + 1)
#   scripts/test-any-date.sh NAME ...   only those (names from the list below)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || { echo "faketime is missing: run scripts/system-deps.sh" >&2; exit 1; }

# name            TZ                instant (UTC)          election day in a test campaign.yaml
INSTANTS="
spring-forward    UTC               2027-03-28T00:30:00    -
fall-back         UTC               2027-10-31T00:30:00    -
new-year-eve      UTC               2027-12-31T22:30:00    -
election-night    UTC               2027-04-12T00:30:00    2027-04-11
montreal-spring   America/Montreal  2027-03-28T00:30:00    -
"

out=${MATINALE_ANY_DATE_OUT:-test-artifacts/any-date}
rm -rf "$out" && mkdir -p "$out"

run_one() {  # name tz instant election
  local name=$1 tz=$2 instant=$3 election=$4 env=()
  if [ "$election" != "-" ]; then
    # A copy of the campaign with one election day: the night before is electoral silence.
    local campaign="$out/$name-campaign.yaml"
    sed "s/^  days: \[\]/  days:\n    - {date: $election, name: \"Premier tour\", round: 1}/" campaign.yaml >"$campaign"
    grep -q "date: $election" "$campaign" || { echo "$name: could not add the election day" >&2; return 1; }
    env=(MATINALE_CAMPAIGN_FILE="$PWD/$campaign")
  fi
  if env "${env[@]}" TZ="$tz" faketime -f "@${instant/T/ }" \
      .venv/bin/python -m pytest -q -p no:cacheprovider -m "not (s3 or browser or stack or e2e)" \
      >"$out/$name.log" 2>&1; then
    echo "any-date $name ($instant UTC, TZ=$tz): $(tail -n 1 "$out/$name.log" | tr -d '=')"
  else
    echo "any-date $name ($instant UTC, TZ=$tz) FAILED; last lines of $out/$name.log:"
    tail -n 40 "$out/$name.log"
    return 1
  fi
}
export -f run_one
export out

selected=$(echo "$INSTANTS" | awk 'NF==4' | { if [ $# -gt 0 ]; then grep -E "^($(IFS='|'; echo "$*")) "; else cat; fi; })
[ -n "$selected" ] || { echo "no such instant: $*" >&2; exit 2; }
echo "$selected" | xargs -P 3 -L 1 bash -c 'run_one "$@"' _
