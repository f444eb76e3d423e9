#!/usr/bin/env bash
# 'make run': the whole platform on this machine, in the foreground, on its embedded defaults.
# Data lives in .data/ so that the next 'make run' finds it. Ctrl-C or SIGTERM stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG="${CONFIG:-Release}"
DATA="${APERTURE_DATA_DIR:-$PWD/.data}"
CLICKHOUSE_PORT="${APERTURE_CLICKHOUSE_PORT:-18123}"
REDIS_PORT="${APERTURE_REDIS_PORT:-16379}"
HTTP_PORT="${APERTURE_HTTP_PORT:-9090}"
GRPC_PORT="${APERTURE_GRPC_PORT:-50051}"
JOBS_PORT="${APERTURE_JOBS_PORT:-18000}"
CENTRAL_PORT="${APERTURE_CENTRAL_PORT:-8080}"
CENTRAL_JOBS_PORT="${APERTURE_CENTRAL_JOBS_PORT:-19000}"
WEBHOOK_PORT="${APERTURE_WEBHOOK_PORT:-9093}"
BIN_ENDPOINT="runtime/Aperture.EmbeddedClickHouse/bin/$CONFIG/net10.0/aperture-clickhouse.dll"
BIN_RUNTIME="runtime/Aperture.Runtime/bin/$CONFIG/net10.0/aperture-runtime.dll"
mkdir -p "$DATA/clickhouse" "$DATA/redis" "$DATA/logs" "$DATA/keys"

# One admin token for both runtimes: the environment's, else one made on the first run and kept in .data.
ADMIN_TOKEN_FILE="$DATA/admin-token"
if [[ -z "${APERTURE_AUTH_TOKEN:-}" ]]; then
  if [[ ! -s "$ADMIN_TOKEN_FILE" ]]; then
    (umask 077; head -c 32 /dev/urandom | base64 | tr -d '=+/\n' >"$ADMIN_TOKEN_FILE")
  fi
  APERTURE_AUTH_TOKEN="$(cat "$ADMIN_TOKEN_FILE")"
fi
export APERTURE_AUTH_TOKEN

pids=()
stop_all() {
  local code=${1:-0}
  trap - INT TERM EXIT
  echo
  echo "aperture: stopping"
  # Reverse order, each waited for: the runtime writes what it holds to ClickHouse before
  # ClickHouse stops, and ClickHouse flushes before Redis goes.
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  echo "aperture: stopped; data kept in $DATA"
  exit "$code"
}
trap 'stop_all 0' INT TERM
trap 'stop_all $?' EXIT

wait_for() { # name, seconds, command...
  local name=$1 seconds=$2; shift 2
  for ((i=0; i<seconds*10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "aperture: $name did not start within ${seconds}s; see $DATA/logs/" >&2
  exit 1
}

for port in "$REDIS_PORT" "$CLICKHOUSE_PORT" "$HTTP_PORT" "$GRPC_PORT" "$JOBS_PORT" "$CENTRAL_PORT" "$CENTRAL_JOBS_PORT" "$WEBHOOK_PORT" "${APERTURE_AGENT_PORT:-19090}" "${APERTURE_SIDECAR_PORT:-8000}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "aperture: port $port is already in use (another 'make run'?); set APERTURE_*_PORT to move" >&2
    exit 1
  fi
done

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DATA/redis" --appendonly yes \
  --save "" --daemonize no >"$DATA/logs/redis.log" 2>&1 &
pids+=($!)
wait_for redis 20 redis-cli -p "$REDIS_PORT" ping

dotnet "$BIN_ENDPOINT" --path "$DATA/clickhouse" --port "$CLICKHOUSE_PORT" >"$DATA/logs/clickhouse.log" 2>&1 &
pids+=($!)
wait_for clickhouse 60 curl -sf "http://127.0.0.1:$CLICKHOUSE_PORT/ping"

CLICKHOUSE="Host=127.0.0.1;Port=$CLICKHOUSE_PORT;Protocol=http;Username=default;Password="
KEYS=(--Aperture:Tokens:KeyDirectory="$DATA/keys")
if [[ -z "$(ls -A "$DATA/keys")" ]]; then
  dotnet "$BIN_RUNTIME" token init-keys "${KEYS[@]}" >>"$DATA/logs/central.log" 2>&1
fi

# The central runtime: tenants, API keys and the tokens it signs, and the federation of this one site's jobs.
dotnet "$BIN_RUNTIME" --role central --http-port "$CENTRAL_PORT" --jobs-port "$CENTRAL_JOBS_PORT" --webhook-port "$WEBHOOK_PORT" \
  --clickhouse "$CLICKHOUSE" --redis "127.0.0.1:$REDIS_PORT" "${KEYS[@]}" \
  --Aperture:Central:Sites:local="http://127.0.0.1:$JOBS_PORT" --Aperture:Central:SiteApis:local="http://127.0.0.1:$HTTP_PORT" \
  --Aperture:Central:SiteTokens:local="$APERTURE_AUTH_TOKEN" \
  >"$DATA/logs/central.log" 2>&1 &
pids+=($!)
wait_for central 60 curl -sf "http://127.0.0.1:$CENTRAL_PORT/readyz"

# The site: it checks the central runtime's API keys and tokens, and sends its series to the central watchdog
# with the agent's ingestion key (written by agent-local.sh below), labelled with its site id (the central's name for it).
dotnet "$BIN_RUNTIME" --role aggregator --http-port "$HTTP_PORT" --grpc-port "$GRPC_PORT" --jobs-port "$JOBS_PORT" \
  --clickhouse "$CLICKHOUSE" --redis "127.0.0.1:$REDIS_PORT" \
  --Aperture:Identity:CentralUrl="http://127.0.0.1:$CENTRAL_PORT" \
  --Aperture:Watchdog:Export:TokenFile="$DATA/agent/ingestion-key" --Aperture:Watchdog:Export:SiteId=local \
  --Aperture:Tokens:JwksUrl="http://127.0.0.1:$CENTRAL_PORT/.well-known/jwks.json" \
  > >(tee "$DATA/logs/runtime.log") 2>&1 &
pids+=($!)
wait_for runtime 60 curl -sf "http://127.0.0.1:$HTTP_PORT/readyz"

# shellcheck source=scripts/agent-local.sh
source scripts/agent-local.sh

cat <<MSG

Aperture is running (Ctrl-C stops it):
  web UI (site)    http://127.0.0.1:$HTTP_PORT/   (flame graphs; sign in with the admin token below)
  web UI (central) http://127.0.0.1:$CENTRAL_PORT/   (status; tenants, keys and anomalies views to come)
  runtime HTTP     http://127.0.0.1:$HTTP_PORT   (/healthz, /readyz, /metrics, the aggregator APIs)
  runtime gRPC     127.0.0.1:$GRPC_PORT
  jobs API         http://127.0.0.1:$JOBS_PORT   (/v1/ingest/events, /v1/jobs, /v1/subjobs, /v1/stream, /v1/healthz)
  central API      http://127.0.0.1:$CENTRAL_PORT/api/v1   (tenants, rbac/permissions, apikeys; /.well-known/jwks.json)
  central jobs     http://127.0.0.1:$CENTRAL_JOBS_PORT   (/v1/sites, /v1/jobs, /v1/subjobs, /v1/healthz)
  webhook          http://127.0.0.1:$WEBHOOK_PORT   (POST /api/v1/alerts/webhook, the Alertmanager receiver)
  ClickHouse HTTP  http://127.0.0.1:$CLICKHOUSE_PORT   (embedded engine, data in $DATA/clickhouse)
  Redis            127.0.0.1:$REDIS_PORT   (append-only file in $DATA/redis)
  logs             $DATA/logs/
  node agent       http://127.0.0.1:$AGENT_PORT   (/healthz, /ready, /status, /status/collectors, /metrics; config $AGENT_DIR/agent.yaml)
  job sidecar      http://127.0.0.1:$SIDECAR_PORT   (POST /v1/ingest/events, /v1/ingest/events:batch; GET /v1/healthz)
  server monitoring http://127.0.0.1:$HTTP_PORT/api/servers/, /api/metrics/latest/, /api/metrics/history/

Every API wants a credential. The admin token (super-admin; X-Scope-OrgID picks the tenant) is in
$ADMIN_TOKEN_FILE (or your APERTURE_AUTH_TOKEN):
  curl -H "Authorization: Bearer \$(cat $ADMIN_TOKEN_FILE)" http://127.0.0.1:$CENTRAL_PORT/api/v1/tenants
A first token for a person (a JWT signed by the central runtime's key, valid at the site too):
  dotnet $BIN_RUNTIME token issue --tenant default --subject you@example.com --role admin --ttl 8h ${KEYS[*]}
An API key: POST /api/v1/apikeys with {"name": "...", "scope": "ingestion|read|admin"} and the admin token.
The node agent pushes with an ingestion key of tenant default (in $DATA/agent/ingestion-key).

MSG
wait -n "${pids[@]}" || true
echo "aperture: a process exited; stopping the rest" >&2
stop_all 1
