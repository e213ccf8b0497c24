#!/usr/bin/env bash
# Installs the Debian 12 packages Arsenal needs to build, test and benchmark. Idempotent.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git curl
  libseccomp-dev libcap-dev libcgroup-dev libboost1.81-dev nlohmann-json3-dev libsqlite3-dev
  libssl-dev libcli11-dev libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev
  librapidcheck-dev libvalijson-dev gcovr graphviz nodejs npm wrk bubblewrap)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
