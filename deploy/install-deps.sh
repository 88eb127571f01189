#!/usr/bin/env bash
# Installs every package Skiff needs to build and test on Debian 12, skipping what is present.
# Idempotent: a second run installs nothing and takes about a second.
#
#   deploy/install-deps.sh            build packages + test peers
#   deploy/install-deps.sh --build    build packages only
#
# Every install uses --no-install-recommends (see docs/operations.md: with foreign
# architectures enabled, recommends can make apt propose removing gcc).
set -euo pipefail

BUILD_PKGS=(
  cmake ninja-build g++ pkg-config ccache clang-format
  libpaho-mqttpp-dev libpaho-mqtt-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev prometheus-cpp-dev
  libssl-dev libcurl4-openssl-dev libsqlite3-dev libboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev libmosquitto-dev
)
PEER_PKGS=(
  mosquitto mosquitto-clients
  etcd-server etcd-client
  docker-registry skopeo umoci busybox-static
  podman runc qemu-user-static
  curl ca-certificates openssl systemd
  chromium
)
# The hub dashboard builds with node >= 20.19 and npm (the machine image brings node 20 with
# npm); Debian's packages are installed only where node is missing (CMake checks the version).
if ! command -v node >/dev/null; then
  BUILD_PKGS+=(nodejs npm)
fi

want=("${BUILD_PKGS[@]}")
if [[ "${1:-}" != "--build" ]]; then
  want+=("${PEER_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
