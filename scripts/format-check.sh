#!/usr/bin/env bash
# The format gate of 'make test': C# as .editorconfig says (dotnet format, which also runs the analyzers'
# code fixes) and the shell scripts as shellcheck says. 'make format' applies the C# fixes.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
if ! dotnet format Operator.sln --verify-no-changes --no-restore -v quiet; then
  echo "format: C# differs from .editorconfig; run 'make format' and commit the result" >&2
  status=1
fi

if ! shellcheck -x scripts/*.sh .ci/run; then
  echo "format: shellcheck found problems in the scripts above" >&2
  status=1
fi
exit "$status"
