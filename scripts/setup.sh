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

# The OSU 0.18 um standard cells for `lbfp synth` (docs/hardware-cost.md): the liberty of the Debian
# package qflow-tech-osu018, downloaded and unpacked into build/tech/osu018 (installing it would
# pull in qflow). A no-op when it is there.
osu018_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/tech/osu018"
if [[ ! -s "$osu018_dir/osu018_stdcells.lib" ]]; then
  echo "setup: unpacking qflow-tech-osu018 into $osu018_dir"
  osu018_tmp=$(mktemp -d) && chmod 755 "$osu018_tmp"  # readable by apt's _apt user
  (cd "$osu018_tmp" && apt-get download -qq qflow-tech-osu018 && dpkg-deb -x qflow-tech-osu018_*.deb x)
  mkdir -p "$osu018_dir"
  cp "$osu018_tmp"/x/usr/share/qflow/tech/osu018/* "$osu018_dir"/
  rm -rf "$osu018_tmp"
fi

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
