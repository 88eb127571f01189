#!/usr/bin/env bash
# Builds Skiff's Debian packages into dist/:
#   skiff-server_<v>_amd64.deb   control plane, hub, skiffctl, virtual node, dashboard, units
#   skiff-agent_<v>_amd64.deb    the agent for amd64 devices
#   skiff-agent_<v>_arm64.deb    the agent for Raspberry Pi (64-bit), cross-compiled
#
#   deploy/package.sh [server|agent-amd64|agent-arm64 ...]    (default: all three)
#   SKIFF_BUILD_DIR=dir    the normal build tree the server package is made from (default build)
#   SKIFF_PACKAGE_OUT=dir  where the .deb files go (default dist/)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${SKIFF_BUILD_DIR:-build}
OUT=${SKIFF_PACKAGE_OUT:-$ROOT/dist}
mkdir -p "$OUT"
what=("$@")
[[ ${#what[@]} -gt 0 ]] || what=(server agent-amd64 agent-arm64)

for w in "${what[@]}"; do
  case "$w" in
    server)
      [[ -e "$BUILD/build.ninja" ]] || cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
      ninja -C "$BUILD" -j"${SKIFF_JOBS:-2}" skiff-control-plane skiff-hub skiffctl \
        skiff-virtual-node skiff_dashboard
      (cd "$BUILD" && cpack --config CPackConfig.cmake -B "$OUT/.cpack-server" >/dev/null)
      mv "$OUT"/.cpack-server/skiff-server_*.deb "$OUT/"
      rm -rf "$OUT/.cpack-server"
      ;;
    agent-amd64) cross/build-agent.sh amd64 --package && cp build-amd64/skiff-agent_*.deb "$OUT/" ;;
    agent-arm64) cross/build-agent.sh aarch64 --package && cp build-aarch64/skiff-agent_*.deb "$OUT/" ;;
    *) echo "package: unknown package '$w' (server, agent-amd64, agent-arm64)" >&2; exit 2 ;;
  esac
done
ls -l "$OUT"/*.deb
