#!/usr/bin/env bash
# Cross-builds skiff-agent (the SKIFF_BUILD_AGENT_ONLY tree: common + edge_agent) for a Raspberry
# Pi, installing the cross toolchain and the target architecture's -dev packages first.
#
#   cross/build-agent.sh [aarch64|armhf|amd64] [--package]
#
#   aarch64 (default)   64-bit Raspberry Pi OS / Debian arm64 (Pi 3/4/5, Zero 2)
#   armhf               32-bit Raspberry Pi OS / Debian armhf; skipped with a message (exit 0)
#                       when its packages cannot be installed
#   amd64               a native agent-only build (for the amd64 .deb)
#   --package           also build the .deb with CPack (into the build directory)
#
#   SKIFF_CROSS_BUILD_DIR=dir   build directory (default: build-<arch>)
#   SKIFF_CROSS_NO_INSTALL=1    do not touch apt (packages must already be there)
#
# Output: <build dir>/edge_agent/skiff-agent (with debug info stripped into nothing: it is built
# MinSizeRel and stripped after linking; the unstripped size is printed too).
#
# Package installation follows docs/TEST-INFRA: the foreign architecture is added once, every
# install uses --no-install-recommends (recommends make apt propose removing gcc), and each
# target -dev package is installed together with its host counterpart, because Multi-Arch: same
# packages must have identical versions on every architecture: installing libssl-dev:arm64 may
# upgrade libssl-dev:amd64 to the same version, which apt only does when asked for both.
set -euo pipefail
cd "$(dirname "$0")/.."

ARCH=aarch64
PACKAGE=0
for a in "$@"; do
  case "$a" in
    aarch64|arm64) ARCH=aarch64 ;;
    armhf|arm) ARCH=armhf ;;
    amd64|x86_64) ARCH=amd64 ;;
    --package) PACKAGE=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build-agent: unknown argument '$a' (expected aarch64, armhf, amd64 or --package)" >&2
       exit 2 ;;
  esac
done

case "$ARCH" in
  aarch64) DEB_ARCH=arm64; TRIPLET=aarch64-linux-gnu ;;
  armhf) DEB_ARCH=armhf; TRIPLET=arm-linux-gnueabihf ;;
  amd64) DEB_ARCH=amd64; TRIPLET=x86_64-linux-gnu ;;
esac
BUILD=${SKIFF_CROSS_BUILD_DIR:-build-$ARCH}
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

# -dev packages of the target architecture (header-only ones are Architecture: all): OpenSSL and
# Paho MQTT C; libstdc++ comes with the cross compiler and is linked statically. Boost is
# used header-only (Asio/Beast in the agent's HTTP client); its headers are identical on every
# architecture (libboost1.74-dev is Multi-Arch: same), so the host's /usr/include/boost serves.
TARGET_DEVS=(libssl-dev libpaho-mqtt-dev)
HOST_PKGS=(nlohmann-json3-dev libcli11-dev libboost-dev cmake ninja-build pkg-config file)
if [[ "$ARCH" != amd64 ]]; then HOST_PKGS+=("crossbuild-essential-$DEB_ARCH" qemu-user-static); fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_packages() {
  local want=("${HOST_PKGS[@]}")
  for p in "${TARGET_DEVS[@]}"; do
    want+=("$p")
    if [[ "$ARCH" != amd64 ]]; then want+=("$p:$DEB_ARCH"); fi
  done
  local missing=()
  for p in "${want[@]}"; do installed "$p" || missing+=("$p"); done
  if ((${#missing[@]} == 0)); then
    echo "build-agent: cross packages for $DEB_ARCH present"
    return 0
  fi
  if [[ "${SKIFF_CROSS_NO_INSTALL:-0}" == 1 ]]; then
    echo "build-agent: missing packages and SKIFF_CROSS_NO_INSTALL=1: ${missing[*]}" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [[ "$ARCH" != amd64 ]] && ! dpkg --print-foreign-architectures | grep -qx "$DEB_ARCH"; then
    echo "build-agent: adding foreign architecture $DEB_ARCH"
    $SUDO dpkg --add-architecture "$DEB_ARCH"
    ADDED_ARCH=1
  fi
  $SUDO apt-get update -qq || return 1
  echo "build-agent: installing ${missing[*]}"
  # Host and target -dev packages in one transaction so apt aligns their versions.
  local hostDevs=() targetDevs=()
  for p in "${TARGET_DEVS[@]}"; do
    hostDevs+=("$p")
    if [[ "$ARCH" != amd64 ]]; then targetDevs+=("$p:$DEB_ARCH"); fi
  done
  $SUDO apt-get install -y -qq --no-install-recommends "${HOST_PKGS[@]}" "${hostDevs[@]}" \
    "${targetDevs[@]}" >/dev/null || return 1
}

ADDED_ARCH=0
if ! install_packages; then
  # Leave apt as we found it: a foreign architecture whose index is broken would make every later
  # `apt-get update` on this machine fail.
  if [[ "$ADDED_ARCH" == 1 ]] && ! dpkg --get-selections "*:$DEB_ARCH" 2>/dev/null | grep -q .; then
    $SUDO dpkg --remove-architecture "$DEB_ARCH" && $SUDO apt-get update -qq || true
    echo "build-agent: removed the foreign architecture $DEB_ARCH again" >&2
  fi
  if [[ "$ARCH" == armhf ]]; then
    echo "build-agent: SKIPPED armhf: its cross packages could not be installed from the" \
      "configured mirror (see apt's messages above); the aarch64 build is unaffected." >&2
    exit 0
  fi
  echo "build-agent: could not install the $DEB_ARCH cross packages" >&2
  exit 1
fi

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
toolchain=()
if [[ "$ARCH" != amd64 ]]; then toolchain=(-DCMAKE_TOOLCHAIN_FILE="$PWD/cross/toolchain-$ARCH.cmake"); fi
cmake -S . -B "$BUILD" -G Ninja "${toolchain[@]}" \
  -DCMAKE_BUILD_TYPE=MinSizeRel \
  -DSKIFF_BUILD_AGENT_ONLY=ON -DSKIFF_BUILD_TESTS=OFF -DSKIFF_BUILD_BENCH=OFF \
  "${launcher[@]}" >/dev/null
nice -n 10 ninja -C "$BUILD" -j"${SKIFF_JOBS:-2}" skiff-agent
BIN="$BUILD/edge_agent/skiff-agent"
STRIP=strip
if [[ "$ARCH" != amd64 ]]; then STRIP="$TRIPLET-strip"; fi
"$STRIP" --strip-all -o "$BIN.stripped" "$BIN"
echo "build-agent: $BIN ($(stat -c %s "$BIN") bytes; stripped $(stat -c %s "$BIN.stripped") bytes)"
file "$BIN.stripped" 2>/dev/null || true
if [[ "$PACKAGE" == 1 ]]; then
  (cd "$BUILD" && cpack -G DEB >/dev/null)
  for deb in "$BUILD"/*.deb; do
    echo "build-agent: $deb"
    dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Architecture\|Depends\):/  \1:/p'
    dpkg-deb --contents "$deb" | awk '{print "  " $6}'
  done
fi
