#!/usr/bin/env bash
# Installs the Debian 12 packages Arsenal needs to build, test and benchmark. Idempotent.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git curl
  libseccomp-dev libcap-dev libboost1.81-dev nlohmann-json3-dev libsqlite3-dev
  libssl-dev libcli11-dev libspdlog-dev libgtest-dev libgmock-dev libbenchmark-dev
  librapidcheck-dev libvalijson-dev gcovr graphviz wrk bubblewrap criu)
# Node.js runs the independent OpenAPI validator. Machines often carry a newer Node.js (with its own
# npm) than Debian's; Debian's nodejs and npm packages conflict with it, so only install them when
# no node/npm is on PATH.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then pkgs+=(nodejs npm); fi
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
