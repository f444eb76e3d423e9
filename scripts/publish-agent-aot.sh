#!/usr/bin/env bash
# Publishes the node agent as a Native AOT binary into .artifacts/agent-aot/aperture-agent (git-ignored):
# no JIT and no framework assemblies mapped at start, so it stays well under the agent's 80 MB resident
# target (make bench agent-overhead measures it when it is there). The native link needs clang and lld,
# installed here from Debian when missing, as scripts/deps.sh does for redis.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=".artifacts/agent-aot"
case "$(uname -m)" in aarch64) RID=linux-arm64 ;; *) RID=linux-x64 ;; esac
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v clang >/dev/null 2>&1 || missing+=(clang)
command -v ld.lld >/dev/null 2>&1 || missing+=(lld)
[ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "publish-agent-aot: installing ${missing[*]} (Debian)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PublishAot is given here, not in the project: tests and 'make run' use the JIT build.
dotnet publish agent/Aperture.Agent -c Release -r "$RID" -p:PublishAot=true -o "$OUT" --nologo
# TraceEvent ships Windows helper DLLs as content; the AOT agent does not load them, nor the symbols at run time.
rm -f "$OUT"/*.dll "$OUT"/*.pdb
echo "publish-agent-aot: $OUT/aperture-agent ($(du -h "$OUT/aperture-agent" | cut -f1)); run it as: $OUT/aperture-agent --config FILE"
