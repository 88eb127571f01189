#!/usr/bin/env bash
# Sets up and runs Skiff on this machine with embedded defaults (docs/status.md says what exists).
# Steps are shown with timings; a failing step names itself and its log file.
#
#   deploy/quickstart.sh            install what is missing, build, start
#   deploy/quickstart.sh --down     stop what the quickstart started
#   deploy/quickstart.sh --reset    stop and delete the state directory
#   SKIFF_STATE_DIR=dir             state directory (default: ~/.skiff)
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${SKIFF_STATE_DIR:-$HOME/.skiff}
BUILD=${SKIFF_BUILD_DIR:-build}
mkdir -p "$STATE/logs"

step() {  # step <title> <command...>
  local title=$1; shift
  local log="$STATE/logs/$(echo "$title" | tr ' /' '__').log"
  local start=$(date +%s%N)
  printf '==> %-40s' "$title"
  if "$@" >"$log" 2>&1; then
    local ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf 'ok (%d.%01ds)\n' $((ms / 1000)) $((ms % 1000 / 100))
  else
    printf 'FAILED\n    step "%s" failed; its log is %s:\n' "$title" "$log"
    tail -n 20 "$log" | sed 's/^/    | /'
    exit 1
  fi
}

PIDS="$STATE/pids"
mkdir -p "$PIDS"

stop_all() {
  local stopped=0
  for f in "$PIDS"/*.pid; do
    [[ -e "$f" ]] || continue
    local pid; pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      echo "stopped $(basename "$f" .pid) (pid $pid)"
      stopped=1
    fi
    rm -f "$f"
  done
  [[ $stopped == 1 ]] || echo "nothing was running"
}

if [[ "${1:-}" == "--down" ]]; then
  stop_all
  exit 0
fi
if [[ "${1:-}" == "--reset" ]]; then
  stop_all
  rm -rf "$STATE"
  echo "removed $STATE"
  exit 0
fi

step "install dependencies" deploy/install-deps.sh
step "configure" cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSKIFF_BUILD_TESTS=OFF -DSKIFF_BUILD_BENCH=OFF
step "build" ninja -C "$BUILD" -j"${SKIFF_JOBS:-2}"

CP_PORT=${SKIFF_API_PORT:-6443}
start_control_plane() {
  local pidf="$PIDS/control-plane.pid"
  if [[ -e "$pidf" ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    echo "already running (pid $(cat "$pidf"))"
  else
    nohup "$BUILD/control_plane/skiff-control-plane" --data-dir "$STATE/control-plane" \
      --listen "127.0.0.1:$CP_PORT" >>"$STATE/logs/control-plane.log" 2>&1 &
    echo $! >"$pidf"
  fi
  for _ in $(seq 100); do
    if curl -fsk "https://127.0.0.1:$CP_PORT/healthz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$(cat "$pidf")" 2>/dev/null || { echo "control plane exited"; return 1; }
    sleep 0.1
  done
  echo "control plane did not become healthy"; return 1
}
step "start control plane" start_control_plane

# The hub and its MQTT broker (Mosquitto with the TLS + ACL + CRL config skiff-hub init writes).
HUB_DIR="$STATE/hub"
HUB_GRPC=${SKIFF_HUB_GRPC_PORT:-7443}
HUB_HTTP=${SKIFF_HUB_HTTP_PORT:-8443}
MQTT_PORT=${SKIFF_MQTT_PORT:-8883}
step "hub init" "$BUILD/hub/skiff-hub" init --data-dir "$HUB_DIR" \
  --mqtt-listen "127.0.0.1:$MQTT_PORT" --grpc-listen "127.0.0.1:$HUB_GRPC" \
  --http-listen "127.0.0.1:$HUB_HTTP"

start_broker() {
  local pidf="$PIDS/mosquitto.pid"
  if [[ -e "$pidf" ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    echo "already running (pid $(cat "$pidf"))"
  else
    nohup mosquitto -c "$HUB_DIR/mosquitto/mosquitto.conf" >>"$STATE/logs/mosquitto.log" 2>&1 &
    echo $! >"$pidf"
  fi
  # The hub signals this pid (SIGHUP) after revoking a device.
  cp "$pidf" "$HUB_DIR/mosquitto/mosquitto.pid"
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; then return 0; fi
    kill -0 "$(cat "$pidf")" 2>/dev/null || { echo "mosquitto exited"; return 1; }
    sleep 0.1
  done
  echo "mosquitto did not listen on $MQTT_PORT"; return 1
}
step "start MQTT broker" start_broker

start_hub() {
  local pidf="$PIDS/hub.pid"
  if [[ -e "$pidf" ]] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    echo "already running (pid $(cat "$pidf"))"
  else
    nohup "$BUILD/hub/skiff-hub" run --data-dir "$HUB_DIR" --mqtt "mqtts://127.0.0.1:$MQTT_PORT" \
      --grpc-listen "127.0.0.1:$HUB_GRPC" --http-listen "127.0.0.1:$HUB_HTTP" \
      --broker-pid-file "$HUB_DIR/mosquitto/mosquitto.pid" \
      --dashboard-dir "$PWD/hub/dashboard/dist" >>"$STATE/logs/hub.log" 2>&1 &
    echo $! >"$pidf"
  fi
  for _ in $(seq 100); do
    if curl -fs --cacert "$HUB_DIR/pki/ca.pem" "https://127.0.0.1:$HUB_HTTP/healthz" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$(cat "$pidf")" 2>/dev/null || { echo "hub exited"; return 1; }
    sleep 0.1
  done
  echo "hub did not become healthy"; return 1
}
step "start hub" start_hub

KCFG="$STATE/control-plane/admin.kubeconfig"
echo
echo "Skiff's control plane is running on https://127.0.0.1:$CP_PORT (logs: $STATE/logs/)."
echo
echo "  export KUBECONFIG=$KCFG"
echo "  kubectl get namespaces"
echo "  kubectl create deployment web --image=busybox --replicas=3 && kubectl get pods -o wide"
echo "  kubectl get events"
echo
echo "The hub: gRPC 127.0.0.1:$HUB_GRPC, dashboard + REST https://127.0.0.1:$HUB_HTTP (CA $HUB_DIR/pki/ca.pem),"
echo "MQTT mqtts://127.0.0.1:$MQTT_PORT (tokens in $HUB_DIR/tokens.csv)."
echo
echo "  alias skiffctl='$PWD/$BUILD/hub/ctl/skiffctl --config $HUB_DIR/skiffctl.toml'"
echo "  skiffctl device add pi-01 -l site=a --enroll     # prints a one-time enrollment token"
echo "  skiffctl deploy apply -f deploy/examples/hello.yaml && skiffctl deploy status hello"
echo
echo "Stop with: deploy/quickstart.sh --down      Reset all state: deploy/quickstart.sh --reset"
echo "Not yet part of the quickstart (see docs/status.md): virtual node, agent."
