#!/usr/bin/env bash
# Registers a device on this machine's hub and prints what to run on the device (a Raspberry Pi
# with the arm64 package, or any Debian machine with the amd64 one): install the .deb, enroll
# with a one-time token pinned to the hub CA's fingerprint, start the agent.
#
#   deploy/add-device.sh <device-id> [key=value ...]
#
#   SKIFF_HUB_DIR       the hub's data dir (default: ~/.skiff/hub from the quickstart, else
#                       /var/lib/skiff/hub from the skiff-server package)
#   SKIFF_HUB_ADDRESS   the address devices reach the hub at (default: this machine's first
#                       non-loopback IPv4 address). The hub and broker must listen there and their
#                       certificates must name it: see deploy/server/README.md.
#   SKIFF_HUB_HTTP_PORT 8443 (enrollment), SKIFF_TOKEN_TTL 1h
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,13p' "$0"; [[ $# -ge 1 ]] && exit 0 || exit 2
fi
DEVICE=$1; shift
HUB_DIR=${SKIFF_HUB_DIR:-}
if [[ -z "$HUB_DIR" ]]; then
  if [[ -e "$HOME/.skiff/hub/skiffctl.toml" ]]; then HUB_DIR=$HOME/.skiff/hub; else HUB_DIR=/var/lib/skiff/hub; fi
fi
[[ -e "$HUB_DIR/skiffctl.toml" ]] || { echo "add-device: no hub in $HUB_DIR (set SKIFF_HUB_DIR)" >&2; exit 1; }
CTL=$(command -v skiffctl || echo "${SKIFF_BUILD_DIR:-build}/hub/ctl/skiffctl")
[[ -x "$CTL" ]] || { echo "add-device: skiffctl not found (install skiff-server or build)" >&2; exit 1; }
ctl() { "$CTL" --config "$HUB_DIR/skiffctl.toml" "$@"; }

labels=()
for kv in "$@"; do
  [[ "$kv" == *=* ]] || { echo "add-device: label '$kv' is not key=value" >&2; exit 2; }
  labels+=(--label "$kv")
done
if ctl device get "$DEVICE" >/dev/null 2>&1; then
  echo "device $DEVICE exists; issuing a new enrollment token" >&2
  [[ ${#labels[@]} -eq 0 ]] || ctl device label "$DEVICE" "$@" >/dev/null
else
  ctl device add "$DEVICE" "${labels[@]}" >/dev/null
fi
token=$(ctl -o json token create "$DEVICE" --ttl "${SKIFF_TOKEN_TTL:-1h}" |
  sed -n 's/.*"token": *"\([^"]*\)".*/\1/p')
[[ -n "$token" ]] || { echo "add-device: the hub returned no token" >&2; exit 1; }
fingerprint=$(openssl x509 -in "$HUB_DIR/pki/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
addr=${SKIFF_HUB_ADDRESS:-$(hostname -I 2>/dev/null | awk '{print $1}')}
addr=${addr:-127.0.0.1}
port=${SKIFF_HUB_HTTP_PORT:-8443}
cat <<OUT
Device $DEVICE is registered. On the device (as root), within ${SKIFF_TOKEN_TTL:-1h}:

  apt install ./skiff-agent_*_$( [[ "${SKIFF_DEVICE_ARCH:-arm64}" == amd64 ]] && echo amd64 || echo arm64).deb     # from deploy/package.sh (dist/)
  skiff-agent enroll --hub https://$addr:$port --token $token \\
    --ca-sha256 $fingerprint
  systemctl enable --now skiff-agent

Then: skiffctl device get $DEVICE   (online, facts), and target it with a deployment selector.
OUT
