#!/usr/bin/env bash
# Sets up and runs the whole of Skiff on this machine with embedded defaults: control plane
# (SQLite), hub + Mosquitto (TLS, ACL, CRL), a local OCI registry with a sample image, a
# container engine (Docker if one answers, else a private Podman service), a local agent
# enrolled with a one-time token, and the virtual node; then applies a sample Deployment with
# kubectl and waits until its pod runs on the device. Every step prints its duration; a failing
# step names itself and its log file. A second run reuses the state and only starts what is not
# running, so it also heals a setup where one daemon died.
#
#   deploy/quickstart.sh            install what is missing, build, start, deploy the sample
#   deploy/quickstart.sh --down     stop everything the quickstart started (and its containers)
#   deploy/quickstart.sh --reset    --down, then delete the state directory
#
# Environment (all optional):
#   SKIFF_STATE_DIR        state directory (default ~/.skiff)
#   SKIFF_BUILD_DIR        build directory (default build)
#   SKIFF_QUICKSTART_NO_BUILD=1   use the binaries already in SKIFF_BUILD_DIR (tests)
#   SKIFF_QUICKSTART_NO_DEPS=1    do not run deploy/install-deps.sh
#   SKIFF_ENGINE           auto (default) | docker | podman
#   SKIFF_API_PORT 6443, SKIFF_HUB_GRPC_PORT 7443, SKIFF_HUB_HTTP_PORT 8443, SKIFF_MQTT_PORT 8883,
#   SKIFF_REGISTRY_PORT 5000, SKIFF_KUBELET_PORT 10250   listen ports (127.0.0.1)
#   SKIFF_LISTEN_ADDRESS   address the hub (HTTPS + MQTT) listens on for devices on other
#                          machines (default 127.0.0.1; set it before the first run, it goes into
#                          the certificates); then deploy/add-device.sh enrolls a Raspberry Pi
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE=${SKIFF_STATE_DIR:-$HOME/.skiff}
BUILD=${SKIFF_BUILD_DIR:-build}
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
CP_PORT=${SKIFF_API_PORT:-6443}
HUB_GRPC=${SKIFF_HUB_GRPC_PORT:-7443}
HUB_HTTP=${SKIFF_HUB_HTTP_PORT:-8443}
MQTT_PORT=${SKIFF_MQTT_PORT:-8883}
REG_PORT=${SKIFF_REGISTRY_PORT:-5000}
KUBELET_PORT=${SKIFF_KUBELET_PORT:-10250}
HUB_ADDR=${SKIFF_LISTEN_ADDRESS:-127.0.0.1}
DEVICE=edge-1
REGISTRY="127.0.0.1:$REG_PORT"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
HUB_DIR="$STATE/hub"
KCFG="$STATE/control-plane/admin.kubeconfig"
T0=$(date +%s%N)

step() {  # step <title> <command...>
  local title=$1; shift
  local log="$LOGS/step-$(echo "$title" | tr ' /' '__').log"
  local start=$(date +%s%N)
  printf '==> %-52s' "$title"
  if "$@" >"$log" 2>&1; then
    local ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf 'ok  %3d.%01ds\n' $((ms / 1000)) $((ms % 1000 / 100))
  else
    printf 'FAILED\n    step "%s" failed; its log is %s:\n' "$title" "$log"
    tail -n 25 "$log" | sed 's/^/    | /'
    echo "    daemon logs are in $LOGS/"
    exit 1
  fi
}

# running <name>: its pid is alive, not a zombie, and really ours (every daemon's command line
# names the state dir), so a stale pid file or a reused pid never counts.
running() {
  [[ -e "$PIDS/$1.pid" ]] || return 1
  local pid; pid=$(cat "$PIDS/$1.pid")
  [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" =~ ^[^Z] ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$STATE/"
}

# start_daemon <name> <ready-probe-function> <command...>: starts the command in the background
# unless <name> already runs, then waits up to 60 s for the probe (failing early if it exits).
start_daemon() {
  local name=$1 probe=$2; shift 2
  if running "$name"; then
    echo "$name already running (pid $(cat "$PIDS/$name.pid"))"
  else
    echo "starting $name: $*"
    # Own session: the daemons outlive this script, its terminal and its process group.
    setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$PIDS/$name.pid"
  fi
  for _ in $(seq 600); do
    if "$probe"; then return 0; fi
    running "$name" || { echo "$name exited; its log is $LOGS/$name.log:"; tail -n 20 "$LOGS/$name.log"; return 1; }
    sleep 0.1
  done
  echo "$name did not become ready within 60 s; its log is $LOGS/$name.log"; return 1
}

stop_pid() {  # stop_pid <name>: SIGTERM, then SIGKILL after 10 s
  local f="$PIDS/$1.pid"
  [[ -e "$f" ]] || return 0
  local pid; pid=$(cat "$f")
  if running "$1"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do running "$1" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    echo "stopped $1 (pid $pid)"
  fi
  rm -f "$f"
}

podman_env() {
  export CONTAINERS_CONF="$STATE/podman/containers.conf"
  export CONTAINERS_STORAGE_CONF="$STATE/podman/storage.conf"
  export CONTAINERS_REGISTRIES_CONF="$STATE/podman/registries.conf"
  export XDG_RUNTIME_DIR="$STATE/podman/xdg" XDG_CONFIG_HOME="$STATE/podman/config"
  export REGISTRY_AUTH_FILE="$STATE/podman/auth.json" TMPDIR="$STATE/podman/tmp"
}

stop_all() {
  # Agent first (so it does not restart containers), then the containers it ran, then the rest.
  stop_pid agent
  stop_pid virtual-node
  if [[ -e "$STATE/engine" && "$(cat "$STATE/engine")" == podman ]]; then
    # The podman CLI works on the private storage with or without the service.
    # The pods' containers first, then their infra containers (whose namespaces they join).
    (
      podman_env
      ids=$(podman ps -aq --filter label=io.skiff.module 2>/dev/null || true)
      [[ -z "$ids" ]] || podman rm -f -t 2 $ids >/dev/null 2>&1
      podman rm -af -t 2 >/dev/null 2>&1
    ) && echo "removed the quickstart's containers"
  elif [[ -e "$STATE/engine" && "$(cat "$STATE/engine")" == docker ]]; then
    # The pods' containers first, then their infra containers (whose namespaces they join).
    local ids filter
    for filter in "label=io.skiff.module" "label=io.skiff.agent=$DEVICE"; do
      ids=$(docker ps -aq --filter "label=io.skiff.agent=$DEVICE" --filter "$filter" \
        2>/dev/null || true)
      [[ -z "$ids" ]] || docker rm -f $ids >/dev/null
    done
    echo "removed the quickstart's containers"
  fi
  for name in podman hub mosquitto registry control-plane; do stop_pid "$name"; done
  # Mounts Podman leaves when it was killed (container shm): unmount them so --reset can delete.
  awk -v s="$STATE/" 'index($2, s) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

case "${1:-}" in
  --down) mkdir -p "$PIDS"; stop_all; echo "Skiff is stopped (state kept in $STATE)."; exit 0 ;;
  --reset) mkdir -p "$PIDS"; stop_all; rm -rf "$STATE"; echo "removed $STATE"; exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--down|--reset]" >&2; exit 2 ;;
esac

mkdir -p "$PIDS" "$LOGS"
echo "Skiff quickstart: state in $STATE, logs in $LOGS"

# ---- 1. dependencies and build ----------------------------------------------------------------
if [[ "${SKIFF_QUICKSTART_NO_DEPS:-0}" != 1 ]]; then
  step "install dependencies" deploy/install-deps.sh
fi
TARGETS=(skiff-control-plane skiff-hub skiffctl skiff-virtual-node skiff-agent skiff-pause
  skiff_dashboard)
if [[ "${SKIFF_QUICKSTART_NO_BUILD:-0}" != 1 ]]; then
  configure() {
    # Keep an existing configuration (the test build uses the same directory).
    [[ -e "$BUILD/build.ninja" ]] && { echo "already configured"; return 0; }
    local launcher=()
    if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
    cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}"
  }
  step "configure" configure
  step "build (${#TARGETS[@]} targets)" ninja -C "$BUILD" -j"${SKIFF_JOBS:-2}" "${TARGETS[@]}"
fi
CP_BIN="$BUILD/control_plane/skiff-control-plane"
HUB_BIN="$BUILD/hub/skiff-hub"
CTL_BIN="$BUILD/hub/ctl/skiffctl"
VN_BIN="$BUILD/virtual_node/skiff-virtual-node"
AGENT_BIN="$BUILD/edge_agent/skiff-agent"
for b in "$CP_BIN" "$HUB_BIN" "$CTL_BIN" "$VN_BIN" "$AGENT_BIN" "$BUILD/edge_agent/skiff-pause"; do
  [[ -x "$b" ]] || { echo "missing $b (build it or unset SKIFF_QUICKSTART_NO_BUILD)" >&2; exit 1; }
done

# ---- 2. control plane -------------------------------------------------------------------------
cp_ready() { curl -fsk "https://127.0.0.1:$CP_PORT/healthz" >/dev/null 2>&1; }
step "start control plane" start_daemon control-plane cp_ready \
  "$CP_BIN" --data-dir "$STATE/control-plane" --listen "127.0.0.1:$CP_PORT"

# ---- 3. hub and its MQTT broker ---------------------------------------------------------------
step "hub init (CA, certificates, broker config)" "$HUB_BIN" init --data-dir "$HUB_DIR" \
  --mqtt-listen "$HUB_ADDR:$MQTT_PORT" --grpc-listen "127.0.0.1:$HUB_GRPC" \
  --http-listen "$HUB_ADDR:$HUB_HTTP" --hosts "$HUB_ADDR"
mqtt_ready() { (exec 3<>"/dev/tcp/$HUB_ADDR/$MQTT_PORT") 2>/dev/null; }
start_broker() {
  start_daemon mosquitto mqtt_ready mosquitto -c "$HUB_DIR/mosquitto/mosquitto.conf"
  # The hub sends SIGHUP to this pid after revoking a device (CRL + ACL reload).
  cp "$PIDS/mosquitto.pid" "$HUB_DIR/mosquitto/mosquitto.pid"
}
step "start MQTT broker (Mosquitto, TLS)" start_broker
hub_ready() { curl -fs --cacert "$HUB_DIR/pki/ca.pem" "https://$HUB_ADDR:$HUB_HTTP/healthz" >/dev/null 2>&1; }
step "start hub" start_daemon hub hub_ready \
  "$HUB_BIN" run --data-dir "$HUB_DIR" --mqtt "mqtts://$HUB_ADDR:$MQTT_PORT" \
  --grpc-listen "127.0.0.1:$HUB_GRPC" --http-listen "$HUB_ADDR:$HUB_HTTP" \
  --broker-pid-file "$HUB_DIR/mosquitto/mosquitto.pid" --dashboard-dir "$ROOT/hub/dashboard/dist"
ADMIN_TOKEN=$(awk -F, '$3=="admin"{print $1; exit}' "$HUB_DIR/tokens.csv")
READER_TOKEN=$(awk -F, '$3=="reader"{print $1; exit}' "$HUB_DIR/tokens.csv")
skiffctl() { "$CTL_BIN" --config "$HUB_DIR/skiffctl.toml" "$@"; }

# ---- 4. local registry with the sample image --------------------------------------------------
reg_ready() { curl -fs "http://$REGISTRY/v2/" >/dev/null 2>&1; }
start_registry() {
  mkdir -p "$STATE/registry/data"
  cat >"$STATE/registry/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $STATE/registry/data}
  delete: {enabled: true}
http: {addr: "127.0.0.1:$REG_PORT"}
EOF
  start_daemon registry reg_ready docker-registry serve "$STATE/registry/config.yml"
}
step "start registry ($REGISTRY)" start_registry

# The sample image: busybox-static in an OCI layout (no internet needed), pushed as hello:1.
push_image() {
  if skopeo inspect --tls-verify=false "docker://$REGISTRY/hello:1" >/dev/null 2>&1; then
    echo "hello:1 already in the registry"; return 0
  fi
  local work="$STATE/image"
  rm -rf "$work"; mkdir -p "$work"
  umoci init --layout "$work/oci"
  umoci new --image "$work/oci:hello"
  umoci unpack --image "$work/oci:hello" "$work/bundle"
  mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/tmp"
  cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$work/bundle/rootfs/bin/$applet"
  done
  umoci repack --image "$work/oci:hello" "$work/bundle"
  umoci config --image "$work/oci:hello" --config.cmd sh --config.env PATH=/bin
  skopeo --insecure-policy copy --dest-tls-verify=false "oci:$work/oci:hello" \
    "docker://$REGISTRY/hello:1"
  rm -rf "$work"
}
step "build + push sample image hello:1" push_image

# ---- 5. container engine ----------------------------------------------------------------------
ENGINE=${SKIFF_ENGINE:-auto}
if [[ -e "$STATE/engine" && "$ENGINE" == auto ]]; then ENGINE=$(cat "$STATE/engine"); fi
if [[ "$ENGINE" == auto ]]; then
  if curl -fs --unix-socket /var/run/docker.sock http://d/_ping >/dev/null 2>&1 &&
     ! curl -fs --unix-socket /var/run/docker.sock http://d/version 2>/dev/null | grep -qi podman; then
    ENGINE=docker
  else
    ENGINE=podman
  fi
fi
echo "$ENGINE" >"$STATE/engine"
if [[ "$ENGINE" == docker ]]; then
  ENGINE_SOCKET=/var/run/docker.sock
  docker_ready() { curl -fs --unix-socket "$ENGINE_SOCKET" http://d/_ping >/dev/null 2>&1; }
  step "container engine: Docker" docker_ready
else
  ENGINE_SOCKET="$STATE/podman/podman.sock"
  podman_ready() { curl -fs --unix-socket "$ENGINE_SOCKET" http://d/_ping >/dev/null 2>&1; }
  start_podman() {
    local d="$STATE/podman"
    for sub in tmp volumes graph run xdg config net events; do mkdir -p "$d/$sub"; done
    # runc + vfs + cgroupfs + explicit ulimits work everywhere, including containers and CI
    # sandboxes without CAP_SYS_RESOURCE (docs/operations.md "Container engine").
    cat >"$d/containers.conf" <<EOF
[containers]
netns = "host"
cgroupns = "host"
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
log_driver = "k8s-file"

[network]
network_backend = "cni"
network_config_dir = "$d/net"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$d/events/events.log"
tmp_dir = "$d/tmp"
volume_path = "$d/volumes"
EOF
    printf '[storage]\ndriver = "vfs"\ngraphroot = "%s/graph"\nrunroot = "%s/run"\n' "$d" "$d" \
      >"$d/storage.conf"
    printf 'unqualified-search-registries = []\n\n[[registry]]\nlocation = "%s"\ninsecure = true\n' \
      "$REGISTRY" >"$d/registries.conf"
    [[ -e "$d/auth.json" ]] || echo '{"auths": {}}' >"$d/auth.json"
    podman_env
    start_daemon podman podman_ready podman system service --time=0 "unix://$ENGINE_SOCKET"
  }
  step "container engine: Podman service" start_podman
fi

# ---- 6. the local device: register, enroll, run the agent -------------------------------------
register_device() {
  if skiffctl device get "$DEVICE" >/dev/null 2>&1; then
    echo "$DEVICE already registered"
  else
    skiffctl device add "$DEVICE" --label site=home --label quickstart=true
  fi
  if [[ -e "$STATE/agent/device.crt" ]]; then echo "$DEVICE already enrolled"; return 0; fi
  local token
  token=$(skiffctl -o json token create "$DEVICE" | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
  [[ -n "$token" ]] || { echo "no token in skiffctl's answer"; return 1; }
  "$AGENT_BIN" enroll --state-dir "$STATE/agent" --hub "https://$HUB_ADDR:$HUB_HTTP" \
    --token "$token" --ca-file "$HUB_DIR/pki/ca.pem"
}
step "register + enroll device $DEVICE" register_device
agent_ready() { skiffctl -o json device get "$DEVICE" 2>/dev/null | grep -q '"online": *true'; }
step "start agent ($ENGINE)" start_daemon agent agent_ready \
  "$AGENT_BIN" run --state-dir "$STATE/agent" --engine "$ENGINE_SOCKET"

# ---- 7. the virtual node ----------------------------------------------------------------------
mkdir -p "$STATE/virtual-node"
printf '%s\n' "$ADMIN_TOKEN" >"$STATE/virtual-node/hub-token"
chmod 600 "$STATE/virtual-node/hub-token"
kubectl_() { HOME="$STATE/kube-home" KUBECONFIG="$KCFG" kubectl "$@"; }
node_ready() {
  kubectl_ get node skiff-fleet -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' \
    2>/dev/null | grep -q True
}
step "start virtual node (fleet mode)" start_daemon virtual-node node_ready \
  "$VN_BIN" --kubeconfig "$KCFG" --hub "127.0.0.1:$HUB_GRPC" --hub-ca "$HUB_DIR/pki/ca.pem" \
  --hub-token-file "$STATE/virtual-node/hub-token" --kubelet-listen "127.0.0.1:$KUBELET_PORT" \
  --cert-dir "$STATE/virtual-node/pki"

# ---- 8. the sample application ----------------------------------------------------------------
apply_sample() {
  sed "s#127.0.0.1:5000/#$REGISTRY/#" deploy/examples/hello-k8s.yaml | kubectl_ apply -f -
}
step "kubectl apply deploy/examples/hello-k8s.yaml" apply_sample
wait_running() {
  for _ in $(seq 900); do
    local phases
    phases=$(kubectl_ get pods -l app=hello -o jsonpath='{range .items[*]}{.status.phase}{" "}{end}')
    echo "pods: ${phases:-none}"
    if [[ "$phases" == "Running " ]]; then kubectl_ get pods -l app=hello -o wide; return 0; fi
    sleep 0.2
  done
  kubectl_ describe pods -l app=hello; return 1
}
step "wait for the hello pod to run on $DEVICE" wait_running

ms=$(( ($(date +%s%N) - T0) / 1000000 ))
cat <<EOF

Skiff is running on this machine (${ms%???}.$(( ms % 1000 / 100 ))s; logs in $LOGS/).

Kubernetes API (control plane)   https://127.0.0.1:$CP_PORT
  export KUBECONFIG=$KCFG
  kubectl get pods -o wide                 # the hello pod, Running on the virtual node skiff-fleet
  kubectl logs deploy/hello -f             # what the container prints on device $DEVICE
  kubectl get nodes; kubectl describe pod -l app=hello

Hub dashboard   https://$HUB_ADDR:$HUB_HTTP/   (CA: $HUB_DIR/pki/ca.pem)
  admin token:  $ADMIN_TOKEN
  reader token: $READER_TOKEN
Fleet CLI:  alias skiffctl='$CTL_BIN --config $HUB_DIR/skiffctl.toml'; skiffctl device list
More devices (e.g. a Raspberry Pi; see docs/operations.md):  deploy/add-device.sh pi-01 site=home

Stop:  deploy/quickstart.sh --down     Start again: deploy/quickstart.sh     Reset: deploy/quickstart.sh --reset
EOF
