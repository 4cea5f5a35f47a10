#!/usr/bin/env bash
# Installs every Debian package the project builds, tests and runs with.
# A no-op (no apt call at all) when everything is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsystemc-dev verilator yosys
  libfmt-dev libgtest-dev libbenchmark-dev
  libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev
  libopenblas-dev
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
