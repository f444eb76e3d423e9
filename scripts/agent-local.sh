# shellcheck shell=bash
# Sourced by run-local.sh ('make run') once the runtime is ready: starts a node agent that collects this
# host, pushes profiles to the local runtime's gRPC port, sends host samples to its server-monitoring
# ingest API (when the runtime can register this host) and forwards job events from its sidecar to the
# runtime's jobs API. Uses run-local.sh's DATA, CONFIG, ports, pids and wait_for.
AGENT_PORT="${APERTURE_AGENT_PORT:-19090}"
SIDECAR_PORT="${APERTURE_SIDECAR_PORT:-8000}"
JOBS_PORT="${APERTURE_JOBS_PORT:-18000}"
BIN_AGENT="agent/Aperture.Agent/bin/$CONFIG/net10.0/aperture-agent.dll"
AGENT_DIR="$DATA/agent"
mkdir -p "$AGENT_DIR/spool"
SERVER_SLUG="$(hostname | tr '[:upper:]' '[:lower:]' | sed 's/[^a-z0-9-]/-/g; s/^-*//' | cut -c1-63)"
SERVER_SLUG="${SERVER_SLUG:-this-host}"
TOKEN_FILE="$AGENT_DIR/server-token"

# A server token: the environment's, the one kept from an earlier run, or a new registration.
server_token="${APERTURE_AGENT_EXPORT_SERVERS_TOKEN:-}"
if [[ -z "$server_token" && -s "$TOKEN_FILE" ]]; then
  server_token="$(cat "$TOKEN_FILE")"
fi
if [[ -z "$server_token" ]]; then
  register() { timeout 60 dotnet "$BIN_RUNTIME" register-server "$SERVER_SLUG" --name "$(hostname)" --hostname "$(hostname)" --redis "127.0.0.1:$REDIS_PORT" "$@" 2>>"$DATA/logs/agent.log"; }
  out="$(register || true)"
  server_token="$(sed -n 's/^token: //p' <<<"$out" | head -n1)"
  if [[ -z "$server_token" ]]; then # registered by an earlier run whose token file is gone
    server_token="$(register --rotate-token | sed -n 's/^token: //p' | head -n1 || true)"
  fi
  if [[ -n "$server_token" ]]; then
    (umask 077; printf '%s' "$server_token" >"$TOKEN_FILE")
  fi
fi
if [[ -z "$server_token" ]]; then
  echo "aperture: agent: registering this host with the runtime failed (see $DATA/logs/agent.log); host samples are collected but not exported"
fi

# An ingestion key of tenant default from the central runtime, made once and kept: the agent pushes profiles
# and job events with it (it may write and read nothing).
KEY_FILE="$AGENT_DIR/ingestion-key"
if [[ ! -s "$KEY_FILE" ]]; then
  key_json="$(curl -sf -X POST "http://127.0.0.1:$CENTRAL_PORT/api/v1/apikeys" \
    -H "Authorization: Bearer $APERTURE_AUTH_TOKEN" -H "Content-Type: application/json" \
    -d "{\"name\": \"make run agent on $(hostname)\", \"scope\": \"ingestion\", \"rate_limit_rps\": 1000}" || true)"
  ingestion_key="$(sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' <<<"$key_json")"
  if [[ -n "$ingestion_key" ]]; then
    (umask 077; printf '%s' "$ingestion_key" >"$KEY_FILE")
  else
    echo "aperture: agent: the central runtime gave no ingestion key (see $DATA/logs/central.log); profiles are not pushed"
  fi
fi
ingestion_key="$(cat "$KEY_FILE" 2>/dev/null || true)"

cat >"$AGENT_DIR/agent.yaml" <<YAML
# Written by scripts/agent-local.sh for 'make run'; edit and POST /admin/reload (or just save: the agent watches it).
agent:
  id: "$SERVER_SLUG"
self_telemetry:
  listen: "127.0.0.1:$AGENT_PORT"
  debug: {enabled: true}
collectors:
  interval_seconds: 2
profiling:
  interval_seconds: 10
export:
  aggregator: {endpoint: "http://127.0.0.1:$GRPC_PORT", token: "$ingestion_key"}
  servers: {endpoint: "http://127.0.0.1:$HTTP_PORT", server_slug: "$SERVER_SLUG"}
  jobs: {endpoint: "http://127.0.0.1:$JOBS_PORT"}
spool:
  dir: "$AGENT_DIR/spool"
  max_bytes: 67108864
sidecar:
  listen: "127.0.0.1:$SIDECAR_PORT"
YAML

# The agent's own API stays open on loopback: APERTURE_AUTH_TOKEN is the runtimes' admin token, not the agent's.
APERTURE_AUTH_TOKEN="" APERTURE_AGENT_EXPORT_SERVERS_TOKEN="$server_token" dotnet "$BIN_AGENT" --config "$AGENT_DIR/agent.yaml" >>"$DATA/logs/agent.log" 2>&1 &
pids+=($!)
wait_for agent 60 curl -sf "http://127.0.0.1:$AGENT_PORT/healthz"
