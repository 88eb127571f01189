#!/usr/bin/env bash
# Sets up and runs every Skiff test: installs dependencies, configures, builds, checks
# formatting, runs ctest, then builds and runs the unit tests under ASan+UBSan.
# Prints each phase's duration. This is the README's test command and what CI runs.
#
#   deploy/test.sh                 everything
#   SKIFF_SKIP_SANITIZE=1 deploy/test.sh     skip the sanitizer phase
#   SKIFF_BUILD_DIR=dir            build directory (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${SKIFF_BUILD_DIR:-build}
JOBS=${SKIFF_JOBS:-2}
declare -a SUMMARY=()
T0=$(date +%s)

phase() {  # phase <name> <command...>
  local name=$1; shift
  local start=$(date +%s)
  echo "::: phase $name"
  "$@"
  local secs=$(( $(date +%s) - start ))
  SUMMARY+=("$(printf '%-12s %5ss' "$name" "$secs")")
  echo "::: phase $name done in ${secs}s"
}

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

deps() { deploy/install-deps.sh; }
configure() {
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
}
build() { ninja -C "$BUILD" -j"$JOBS"; }
# The arm64 agent (agent-only tree, cross-compiled) for the qemu-aarch64-static smoke test
# (edge_agent_arm64_test), which SKIFF_REQUIRE_ARM64=1 makes fail rather than skip without it.
cross() { SKIFF_CROSS_BUILD_DIR="$BUILD-aarch64" SKIFF_JOBS="$JOBS" cross/build-agent.sh aarch64; }
format() {
  local files
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    files=$(git ls-files '*.cc' '*.h' '*.proto')
  else
    files=$(find common control_plane hub edge_agent edge_provider virtual_node tests bench proto \
      -name '*.cc' -o -name '*.h' -o -name '*.proto')
  fi
  # shellcheck disable=SC2086
  clang-format --dry-run --Werror $files
  echo "clang-format: $(echo "$files" | wc -w) files clean"
}
tests() {
  SKIFF_REQUIRE_ARM64=1 ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS" --timeout 600
}
sanitize() {
  cmake -S . -B "$BUILD-asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSKIFF_SANITIZE=ON \
    -DSKIFF_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
  # Only the unit tests: integration tests exercise external processes, not our memory safety.
  local targets
  targets=$(ctest --test-dir "$BUILD" -L '^unit$' -N -V | sed -n 's/^.*Test command: \([^ ]*\).*$/\1/p' \
    | xargs -n1 basename | sort -u)
  # shellcheck disable=SC2086
  ninja -C "$BUILD-asan" -j"$JOBS" $targets
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$BUILD-asan" -L '^unit$' --output-on-failure -j"$JOBS" --timeout 600
}

phase deps deps
phase configure configure
phase build build
phase cross cross
phase format format
phase test tests
if [[ "${SKIFF_SKIP_SANITIZE:-0}" != 1 ]]; then phase sanitize sanitize; fi

echo "::: summary"
printf '%s\n' "${SUMMARY[@]}"
echo "total        $(( $(date +%s) - T0 ))s"
