#!/usr/bin/env bash
# Sets up and runs Skiff on this machine with embedded defaults (docs/status.md says what exists).
# Steps are shown with timings; a failing step names itself and its log file.
#
#   deploy/quickstart.sh            install what is missing, build, start
#   deploy/quickstart.sh --down     stop what the quickstart started
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

if [[ "${1:-}" == "--down" ]]; then
  echo "nothing is running yet: no daemon is implemented (docs/status.md)"
  exit 0
fi

step "install dependencies" deploy/install-deps.sh
step "configure" cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSKIFF_BUILD_TESTS=OFF -DSKIFF_BUILD_BENCH=OFF
step "build" ninja -C "$BUILD" -j"${SKIFF_JOBS:-2}"

echo
echo "Built into $BUILD:"
for b in skiff-control-plane skiff-hub skiff-virtual-node skiff-agent; do
  path=$(find "$BUILD" -type f -name "$b" -perm -u+x | head -n1)
  printf '  %-22s %s\n' "$b" "$("$path" --version)"
done
echo
echo "The daemons are not implemented yet, so nothing was started (see docs/status.md)."
