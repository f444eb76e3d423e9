#!/usr/bin/env bash
# Runs every test project and ends with one summary line across them ("N passed, N failed").
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
CONFIG="${CONFIG:-Release}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

dotnet test Operator.sln -c "$CONFIG" --no-build --nologo -v minimal \
  --logger "console;verbosity=normal" -- RunConfiguration.TestSessionTimeout=3000000 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

sum() { grep -E "^\s+$1: +[0-9]+" "$log" | awk '{s += $2} END {print s + 0}'; }
passed=$(sum Passed)
failed=$(sum Failed)
skipped=$(sum Skipped)
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "tests: no test ran" >&2
  exit 1
fi
exit "$status"
