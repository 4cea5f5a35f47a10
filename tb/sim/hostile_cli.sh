#!/usr/bin/env bash
# Hostile input through the real binary, every `lbfp` subcommand (issue 9; the table is
# docs/robustness.md): each case is made here in a temporary folder, and must end with exit status
# 2, a message with the key phrase on stderr, nothing on stdout and no report written. Then the
# guarantees about reports: a failed or killed run leaves the previous reports whole, and the same
# inputs and seed give byte-identical sweep.csv and exponent files.
set -u
lbfp=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fail=0
cases=0

onnx_proto=/usr/include/onnx/onnx.proto  # Debian's libonnx-dev, which the build needs anyway
for need in protoc gzip timeout; do
  command -v "$need" > /dev/null || { echo "FAIL: $need is needed (scripts/setup.sh installs it)"; exit 1; }
done
[[ -f $onnx_proto ]] || { echo "FAIL: $onnx_proto is missing (scripts/setup.sh installs libonnx-dev)"; exit 1; }

# expect STATUS PHRASE ARGS...: lbfp ARGS (stdin from $stdin) exits with STATUS, and stderr holds
# PHRASE; on a bad-input status, stdout is empty (unless stdout_ok=1: an error found while running).
stdin=/dev/null
stdout_ok=0
expect() {
  local want_rc=$1 want=$2
  shift 2
  cases=$((cases + 1))
  timeout 120 "$lbfp" "$@" < "$stdin" > out.txt 2> err.txt
  local rc=$?
  # HOSTILE_LOG=FILE: one line per case (arguments, status, message) for docs/robustness.md.
  local args="$*"
  [[ -z ${HOSTILE_LOG:-} ]] || printf '%s\t%s\t%s\n' "${args//$'\n'/\\n}" "$rc" "$(head -1 err.txt)" >> "$HOSTILE_LOG"
  if [[ $rc -ne $want_rc ]] || { [[ -n $want ]] && ! grep -qF -- "$want" err.txt; }; then
    echo "FAIL: lbfp $*: status $rc (want $want_rc), stderr: $(head -c 600 err.txt) (want '$want')"
    fail=1
  elif [[ $want_rc -eq 2 && $stdout_ok -eq 0 && -s out.txt ]]; then
    echo "FAIL: lbfp $*: printed on stdout although the input was bad: $(head -c 300 out.txt)"
    fail=1
  fi
}
bad() { expect 2 "$@"; }
# golden: INPUT PHRASE ARGS... with INPUT (printf format) on stdin.
bad_lines() {
  local input=$1
  shift
  printf "$input" > stdin.txt
  stdin=stdin.txt bad "$@"
  stdin=/dev/null
}
be32() { printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }

gemm='--workload gemm:4,4,4'

# ---- lbfp itself ------------------------------------------------------------------------------
bad "The following argument was not expected: bogus" bogus
bad "The following argument was not expected: extra" sim extra
bad "--arch: 1 required TEXT missing" sim --arch

# ---- lbfp sim: the architecture file (--arch) ------------------------------------------------
a() { printf 'name: t\narray: {rows: 4, cols: 4}\nformat: {type: lbfp}\n%b' "${1:-}" > a.yaml; }
: > empty.yaml
bad "empty.yaml: the file is empty" sim --quiet --arch empty.yaml $gemm
printf 'name: t\narray: {rows: 4, cols' > a.yaml
bad "a.yaml:2: not valid YAML" sim --quiet --arch a.yaml $gemm
printf 'name: t\narray:\n  rows: 4\n' > a.yaml
bad "a.yaml:3: array.cols: missing" sim --quiet --arch a.yaml $gemm
printf 'name: t\narray: {rows: four, cols: 4}\nformat: {type: lbfp}\n' > a.yaml
bad "a.yaml:2: array.rows: expected an integer, got 'four'" sim --quiet --arch a.yaml $gemm
printf 'name: t\narray: {rows: 1.5, cols: 4}\nformat: {type: lbfp}\n' > a.yaml
bad "a.yaml:2: array.rows: expected an integer, got '1.5'" sim --quiet --arch a.yaml $gemm
printf 'name: t\narray: {rows: [4, 8], cols: 4}\nformat: {type: lbfp}\n' > a.yaml
bad "a.yaml:2: array.rows: expected an integer, got '<not a scalar>'" sim --quiet --arch a.yaml $gemm
printf 'name: [t]\narray: {rows: 4, cols: 4}\nformat: {type: lbfp}\n' > a.yaml
bad "a.yaml:1: name: expected a string" sim --quiet --arch a.yaml $gemm
printf 'name: t\narray: {rows: 99999999999999999999, cols: 4}\nformat: {type: lbfp}\n' > a.yaml
bad "array.rows: expected an integer, got '99999999999999999999'" sim --quiet --arch a.yaml $gemm
printf 'name: t\narray: {rows: 0, cols: 4}\nformat: {type: lbfp}\n' > a.yaml
bad "a.yaml:2: array.rows: 0 is outside 1..4096" sim --quiet --arch a.yaml $gemm
printf 'name: t\narray: {rows: 4, cols: -4}\nformat: {type: lbfp}\n' > a.yaml
bad "a.yaml:2: array.cols: -4 is outside 1..4096" sim --quiet --arch a.yaml $gemm
a 'buffers: {weight_kib: 0}\n'
bad "a.yaml:4: buffers.weight_kib: 0 is outside 1..4194304" sim --quiet --arch a.yaml $gemm
a 'buffers: {output_kib: -1}\n'
bad "a.yaml:4: buffers.output_kib: -1 is outside" sim --quiet --arch a.yaml $gemm
a 'clock_mhz: 0\n'
bad "a.yaml:4: clock_mhz: 0 is outside 0.001..1e+06" sim --quiet --arch a.yaml $gemm
a 'clock_mhz: .nan\n'
bad "a.yaml:4: clock_mhz: nan is outside" sim --quiet --arch a.yaml $gemm
a 'dram: {bandwidth_bytes_per_cycle: 0}\n'
bad "a.yaml:4: dram.bandwidth_bytes_per_cycle: 0 is outside" sim --quiet --arch a.yaml $gemm
a 'dram: {size_mib: 0}\n'
bad "a.yaml:4: dram.size_mib: 0 is outside 1..65536" sim --quiet --arch a.yaml $gemm
printf 'name: t\narray: {rows: 4, cols: 4}\nformat: {type: lbfp, acc_bits: 100}\n' > a.yaml
bad "a.yaml:3: format.acc_bits: 100 is outside 2..62" sim --quiet --arch a.yaml $gemm
printf 'name: t\narray: {rows: 4, cols: 4}\nformat: {type: fp16}\n' > a.yaml
bad "a.yaml:3: format.type: 'fp16' is not lbfp or bfp" sim --quiet --arch a.yaml $gemm
a 'colour: blue\n'
bad "a.yaml:4: colour: unknown key (expected one of:" sim --quiet --arch a.yaml $gemm
a 'array: {rows: 8, cols: 8}\n'
bad "a.yaml:4: array: duplicate key" sim --quiet --arch a.yaml $gemm
a '? [a, b]\n: 1\n'
bad "a.yaml:4: (top): a key must be a plain name" sim --quiet --arch a.yaml $gemm
printf '\xff\xfe\x00\x01binary' > a.yaml
bad "a.yaml:1: (top): expected a mapping" sim --quiet --arch a.yaml $gemm
printf '%.0s[' $(seq 3000) > a.yaml
bad "a.yaml:1: not valid YAML: nested too deeply" sim --quiet --arch a.yaml $gemm
bad "/dev/zero: larger than 64 MiB; not a configuration, topology or summary file" sim --quiet --arch /dev/zero $gemm
bad "missing.yaml: cannot open the file" sim --quiet --arch missing.yaml $gemm
mkdir -p folder
bad "folder: is a directory, not a file" sim --quiet --arch folder $gemm

# ---- lbfp sim: a SCALE-Sim .cfg as --arch (docs/scalesim.md) ---------------------------------
# c [SED-SCRIPT]: s.cfg is SCALE-Sim v2's configs/scale.cfg, edited.
c() { cp "$src/tb/sim/scalesim/scale.cfg" s.cfg; [[ $# -eq 0 ]] || sed -i "$1" s.cfg; }
c '/^\[run_presets\]/,$d'
bad "s.cfg: [run_presets]: missing section" sim --quiet --arch s.cfg $gemm
c '/^ArrayWidth/d'
bad "s.cfg: [architecture_presets] ArrayWidth: missing" sim --quiet --arch s.cfg $gemm
c 's/^ArrayHeight:.*/ArrayHeight: 3x/'
bad "s.cfg:5: ArrayHeight: expected an integer, got '3x'" sim --quiet --arch s.cfg $gemm
c 's/^ArrayWidth:.*/ArrayWidth: 0/'
bad "s.cfg:6: ArrayWidth: 0 is outside 1..4096" sim --quiet --arch s.cfg $gemm
c 's/^IfmapSramSzkB:.*/IfmapSramSzkB: -64/'
bad "s.cfg:7: IfmapSramSzkB: -64 is outside 1..4194304" sim --quiet --arch s.cfg $gemm
c 's/^Dataflow : os/Dataflow : xs/'
bad "s.cfg:14: Dataflow: 'xs' is not os, ws or is" sim --quiet --arch s.cfg $gemm
c 's/^MemoryBanks:.*/MemoryBanks: 1\nDataflow: ws/'
bad "s.cfg:16: Dataflow: duplicate key in [architecture_presets] (first at line 14)" sim --quiet --arch s.cfg $gemm
c '$a [general]'
bad "s.cfg:19: [general]: duplicate section (first at line 1)" sim --quiet --arch s.cfg $gemm
c 's/^OfmapSramSzkB:.*/OfmapSramSzkB 64/'
bad "s.cfg:9: expected 'key = value', '[section]' or a comment, got 'OfmapSramSzkB 64'" sim --quiet --arch s.cfg $gemm
c 's/CALC/SOMETIMES/'
bad "s.cfg:18: InterfaceBandwidth: expected CALC or USER, got 'SOMETIMES'" sim --quiet --arch s.cfg $gemm
c 's/CALC/USER/; s/^Bandwidth.*/Bandwidth : ten/'
bad "s.cfg:13: Bandwidth: expected an integer, got 'ten'" sim --quiet --arch s.cfg $gemm
printf 'name: t\narray: {rows: 4, cols: 4}\n' > y.cfg
bad "y.cfg:1: name: a key before any [section]" sim --quiet --arch y.cfg $gemm
c
bad "(--set): array.rows: 0 is outside 1..4096" sim --quiet --arch s.cfg $gemm --set array.rows=0

# ---- lbfp sim: energy tables (--energy, base:, synthesis:) -------------------------------------
e() { printf '%b' "$1" > e.yaml; }
bad "empty.yaml: the file is empty" sim --quiet $gemm --energy empty.yaml
e 'energy_pj:\n  bfp_multiply: 1\n'
bad "e.yaml:1: energy_pj.lbfp_multiply: missing" sim --quiet $gemm --energy e.yaml
e 'energy_pj:\n  bfp_multiply: -1\n'
bad "e.yaml:2: energy_pj.bfp_multiply: -1 is outside 0..1e+09" sim --quiet $gemm --energy e.yaml
e 'energy_pj:\n  bfp_multiply: .inf\n'
bad "e.yaml:2: energy_pj.bfp_multiply: inf is outside" sim --quiet $gemm --energy e.yaml
e 'energy_pj:\n  teleport: 1\n'
bad "e.yaml:2: energy_pj.teleport: unknown key" sim --quiet $gemm --energy e.yaml
e "base: $src/configs/energy/horowitz45.yaml\nsources:\n  bfp_multiply: [a]\n"
bad "e.yaml:3: sources.bfp_multiply: expected a string" sim --quiet $gemm --energy e.yaml
e 'base: e.yaml\n'
bad "energy tables include each other through 'base:'" sim --quiet $gemm --energy e.yaml
printf 'base: e2.yaml\n' > e1.yaml
printf 'base: ./e1.yaml\n' > e2.yaml
bad "energy tables include each other through 'base:'" sim --quiet $gemm --energy e1.yaml
printf 'bfp8: {mul_pj: 2, mac_pj: 1}\nlbfp8: {mul_pj: 1, mac_pj: 2}\n' > s.yaml
e "base: $src/configs/energy/horowitz45.yaml\nsynthesis: s.yaml\n"
bad "s.yaml:1: mac_pj: a MAC's energy is below its multiplier's" sim --quiet $gemm --energy e.yaml
e "base: $src/configs/energy/horowitz45.yaml\nsynthesis: nowhere.yaml\n"
bad "nowhere.yaml: cannot open the file" sim --quiet $gemm --energy e.yaml

# ---- lbfp sim: --set -------------------------------------------------------------------------
bad "--set array.rows: expected key=value" sim --quiet $gemm --set array.rows
bad "--set =5: expected key=value" sim --quiet $gemm --set =5
bad "--set array..rows=5: empty key" sim --quiet $gemm --set array..rows=5
bad "(--set): array.rows: expected an integer, got 'abc'" sim --quiet $gemm --set array.rows=abc
bad "(--set): array.rows: expected an integer, got '[1,2]'" sim --quiet $gemm --set 'array.rows=[1,2]'
bad "(--set): array.rows: 0 is outside 1..4096" sim --quiet $gemm --set array.rows=0
bad "array.rows: missing" sim --quiet $gemm --set array.rows=
bad "--set name.x=1: 'name' is not a mapping" sim --quiet $gemm --set name.x=1
bad "(--set): bogus: unknown key" sim --quiet $gemm --set bogus=1

# ---- lbfp sim: the workload (--workload) ------------------------------------------------------
hdr='Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,'
w() { printf '%s\n%b' "$hdr" "$1" > w.csv; }
: > empty.csv
bad "empty.csv: the topology file is empty" sim --quiet --workload empty.csv
w ''
bad "w.csv: the topology has no layers" sim --quiet --workload w.csv
printf 'conv, 8, 8\n' > w.csv
bad "w.csv:1: not a SCALE-Sim topology header" sim --quiet --workload w.csv
{ printf '\xef\xbb\xbf'; cat "$src/sim/workloads/lenet5.csv"; } > bom.csv
expect 0 "" sim --quiet --workload bom.csv  # a spreadsheet's byte order mark is accepted
w 'c1, 8, 8, 3\n'
bad "w.csv:2: expected 8 columns, got 4" sim --quiet --workload w.csv
w 'c1, 8, 8, 3, 3, x, 4, 1,\n'
bad "w.csv:2: Channels: expected a positive integer, got 'x'" sim --quiet --workload w.csv
w 'c1, 8, 8, 3, 3, 1.5, 4, 1,\n'
bad "w.csv:2: Channels: expected a positive integer, got '1.5'" sim --quiet --workload w.csv
w 'c1, 8, 8, 3, 3, -2, 4, 1,\n'
bad "w.csv:2: Channels: expected a positive integer, got '-2'" sim --quiet --workload w.csv
w 'c1, 8, 8, 3, 3, 0, 4, 1,\n'
bad "w.csv:2: Channels: must be positive, got 0" sim --quiet --workload w.csv
w 'c1, 8, 8, 3, 3, 1, 4, 0,\n'
bad "w.csv:2: Strides: must be positive, got 0" sim --quiet --workload w.csv
w 'c1, 4294967296, 8, 3, 3, 1, 4, 1,\n'
bad "w.csv:2: IFMAP Height: 4294967296 is larger than 2^31" sim --quiet --workload w.csv
w 'c1, 99999999999999999999999, 8, 3, 3, 1, 4, 1,\n'
bad "w.csv:2: IFMAP Height: expected a positive integer" sim --quiet --workload w.csv
w 'c1, 8, 8, 9, 3, 1, 4, 1,\n'
bad "w.csv:2: the 9x3 filter is larger than the 8x8 IFMAP" sim --quiet --workload w.csv
# Sizes whose 64-bit products wrap: refused from the dimensions, before anything is allocated.
w 'c1, 2147483648, 2147483648, 2147483648, 2147483648, 4, 4, 1,\n'
bad "w.csv:2: layer 'c1'" sim --quiet --workload w.csv
w 'c1, 2147483648, 2147483648, 1, 1, 1, 1, 2147483648,\n'
bad "values of input feature map; the model refuses layers over 1 TiB" sim --quiet --workload w.csv
bad "needs 3e+12 bytes of operands and results per group; the model refuses layers over 1 TiB" \
  sim --quiet --workload gemm:1000000,1000000,1000000
bad "bytes of DRAM per group, more than the" sim --quiet --workload gemm:20000,20000,20000
# Operands that fit the DRAM, but not with the exponents, bias and command descriptor after them.
bad "layer 'gemm': needs 1048768 bytes of DRAM with its weight exponents, bias and command descriptor" \
  sim --quiet --set dram.size_mib=1 --workload gemm:902,1,1160
bad "--workload gemm:4,4: expected gemm:M,N,K" sim --quiet --workload gemm:4,4
bad "--workload gemm:4,4,0: K: must be positive, got 0" sim --quiet --workload gemm:4,4,0
bad "--workload gemm:4,-4,4: N: expected a positive integer, got '-4'" sim --quiet --workload gemm:4,-4,4
bad "--workload gemm:4,4,x: K: expected a positive integer, got 'x'" sim --quiet --workload gemm:4,4,x
bad "nowhere.csv: cannot open the file" sim --quiet --workload nowhere.csv

# ---- ONNX models (lbfp sim --workload *.onnx, lbfp eval --model) ------------------------------
# onnx NAME NODES INITIALIZERS [H]: a model with a 1 x 1 x H x H input "x" and output "y", encoded
# by protoc from the text format.
onnx() {
  printf '%s\n' "ir_version: 7 opset_import { version: 13 } graph { name: \"g\" $2 $3
    input { name: \"x\" type { tensor_type { elem_type: 1 shape { dim { dim_value: 1 }
      dim { dim_value: 1 } dim { dim_value: ${4:-4} } dim { dim_value: ${4:-4} } } } } }
    output { name: \"y\" } }" |
    protoc --proto_path=/usr/include onnx/onnx.proto --encode=onnx.ModelProto > "$1.onnx" ||
    { echo "FAIL: protoc could not encode $1.onnx"; fail=1; }
}
init() {  # NAME DIMS VALUES
  local text="initializer { name: \"$1\" data_type: 1"
  for d in $2; do text+=" dims: $d"; done
  for v in $3; do text+=" float_data: $v"; done
  printf '%s }' "$text"
}
fc=$(init g '16 10' "$(printf '0.01 %.0s' $(seq 160))")
rest='node { op_type: "Relu" input: "c" output: "r" } node { op_type: "Flatten" input: "r" output: "f" }
  node { op_type: "Gemm" input: "f" input: "g" output: "y" }'
conv='node { op_type: "Conv" input: "x" input: "w" output: "c" }'
onnx good "$conv $rest" "$(init w '1 1 1 1' 0.5) $fc"
expect 0 "" sim --quiet --workload good.onnx
onnx nan "$conv $rest" "$(init w '1 1 1 1' nan) $fc"
bad "nan.onnx: initializer 'w': value 0 is NaN (weights must be finite)" sim --quiet --workload nan.onnx
onnx inf "$conv $rest" "$(init w '1 1 1 1' 0.5) $(init g '16 10' "$(printf '0.01 %.0s' $(seq 159)) -inf")"
bad "inf.onnx: initializer 'g': value 159 is infinite" sim --quiet --workload inf.onnx
onnx cycle "$conv"' node { op_type: "Add" input: "c" input: "r2" output: "a" }
  node { op_type: "Relu" input: "a" output: "r2" } node { op_type: "Flatten" input: "r2" output: "f" }
  node { op_type: "Gemm" input: "f" input: "g" output: "y" }' "$(init w '1 1 1 1' 0.5) $fc"
bad "cycle.onnx: the graph has a cycle: no order can run Add 'a', Relu 'r2'" sim --quiet --workload cycle.onnx
onnx noinit "$conv $rest" "$fc"
bad "noinit.onnx: Conv 'c': input 'w' is neither an initializer, the graph input nor a node output (missing initializer?)" \
  sim --quiet --workload noinit.onnx
onnx dangling 'node { op_type: "Conv" input: "nowhere" input: "w" output: "c" }'" $rest" "$(init w '1 1 1 1' 0.5) $fc"
bad "dangling.onnx: Conv 'c': input 'nowhere' is neither an initializer" sim --quiet --workload dangling.onnx
onnx noinput 'node { op_type: "Relu" output: "c" }'" $rest" "$fc"
bad "noinput.onnx: Relu 'c': no input" sim --quiet --workload noinput.onnx
onnx unsupported "$conv"' node { op_type: "LSTM" input: "c" output: "r" }
  node { op_type: "Flatten" input: "r" output: "f" } node { op_type: "Gemm" input: "f" input: "g" output: "y" }' \
  "$(init w '1 1 1 1' 0.5) $fc"
bad "unsupported.onnx: unsupported ONNX operator 'LSTM' (node 'r')" sim --quiet --workload unsupported.onnx
onnx bn 'node { op_type: "Conv" input: "x" input: "w" output: "c0" } node { op_type: "BatchNormalization"
  input: "c0" input: "s" input: "b" input: "m" input: "v" output: "c" }'" $rest" \
  "$(init w '1 1 1 1' 0.5) $(init s 1 1) $(init b 1 0) $(init m 1 0) $(init v 1 -1) $fc"
bad "bn.onnx: BatchNormalization 'c': variance + epsilon of channel 0 is not positive" sim --quiet --workload bn.onnx
onnx sizes "$conv $rest" "$(init w '1 1 1 1' '0.5 0.5') $fc"
bad "sizes.onnx: initializer 'w': float data size does not match dims" sim --quiet --workload sizes.onnx
onnx negative "$conv $rest" "$(init w '1 1 -1 1' '') $fc"
bad "negative.onnx: initializer 'w': bad dimension -1" sim --quiet --workload negative.onnx
# 1024 x 60004 x 60004 values per image: over 10^12, refused before anything is allocated.
onnx tera 'node { op_type: "Conv" input: "x" input: "w" output: "c" attribute { name: "pads" type: INTS
  ints: 30000 ints: 30000 ints: 30000 ints: 30000 } }'" $rest" "$(init w '1024 1 1 1' "$(printf '0.5 %.0s' $(seq 1024))") $fc"
bad "tera.onnx: Conv 'c': its output 1024x60004x60004 has more than 2^31 values per image; refused" \
  sim --quiet --workload tera.onnx
onnx hugepad 'node { op_type: "Conv" input: "x" input: "w" output: "c" attribute { name: "pads" type: INTS
  ints: 4611686018427387904 ints: 4611686018427387904 ints: 4611686018427387904 ints: 4611686018427387904 } }'" $rest" \
  "$(init w '1 1 1 1' 0.5) $fc"
bad "hugepad.onnx: Conv 'c': pads above 65535 are not supported" sim --quiet --workload hugepad.onnx
: > empty.onnx
bad "empty.onnx: not an ONNX model (protobuf parse failed)" sim --quiet --workload empty.onnx
head -c 20000 "$src/sim/models/lenet5.onnx" > truncated.onnx
bad "truncated.onnx: not an ONNX model (protobuf parse failed)" sim --quiet --workload truncated.onnx
printf 'plain text, not protobuf\n' > text.onnx
bad "text.onnx: not an ONNX model" sim --quiet --workload text.onnx
bad "nowhere.onnx: cannot open" sim --quiet --workload nowhere.onnx

# ---- lbfp sim: other options and the output folder ---------------------------------------------
bad "--format fp16: expected lbfp8, bfp8, both, arch, mxint8, mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2 or int8" sim --quiet $gemm --format fp16
bad "--format MXINT8: expected lbfp8, bfp8, both, arch, mxint8," sim --quiet $gemm --format MXINT8
bad "--format mxfp8-e4m3 runs on the output-stationary array only (the weight-stationary array's folds of R reduction steps would split its 32-element blocks): use --dataflow os" sim --quiet $gemm --format mxfp8-e4m3 --dataflow ws
bad "--format mxint8 runs on the output-stationary array only (the weight-stationary array's" sim --quiet $gemm --format mxint8 --dataflow best
bad "--format int8: the model has no RTL array of int8; use --array cpp" sim --quiet $gemm --format int8 --array rtl --mode cycle
bad "horowitz45.yaml: no energy for 'fp8_e5m2_multiply' (--format fp8-e5m2): a table prices it from its 'synthesis:' file's fp8_e5m2 section" sim --quiet $gemm --format fp8-e5m2 --energy "$src/configs/energy/horowitz45.yaml"
bad "--mode fast: expected cycle or tile" sim --quiet $gemm --mode fast
bad "--array gpu: expected cpp or rtl" sim --quiet $gemm --array gpu
bad "--array rtl runs cycle by cycle: use --mode cycle" sim --quiet $gemm --array rtl --mode tile
bad "--dataflow rs: expected os, ws, is or best" sim --quiet $gemm --dataflow rs
bad "--best-by area: expected cycles or energy" sim --quiet $gemm --dataflow best --best-by area
bad "--dataflow best runs every dataflow on the C++ array: use --array cpp" \
  sim --quiet $gemm --dataflow best --array rtl
bad "the RTL array is built for rows in 1..64, not 100" \
  sim --quiet $gemm --dataflow ws --array rtl --set array.rows=100
bad "array.dataflow: 'rs' is not output-stationary, weight-stationary or input-stationary" \
  sim --quiet $gemm --set array.dataflow=rs
bad "the RTL array is built for rows in 1..64, not 100" sim --quiet $gemm --array rtl --set array.rows=100
bad "--seed: expected a non-negative decimal integer below 2^64, got '-1'" sim --quiet $gemm --seed -1
bad "--seed: expected a non-negative decimal integer below 2^64, got '99999999999999999999'" \
  sim --quiet $gemm --seed 99999999999999999999
bad "--seed: expected a non-negative decimal integer below 2^64, got '1.5'" sim --quiet $gemm --seed 1.5
bad "--out: the folder name is empty" sim --quiet $gemm --out ''
echo 'a file' > file.txt
bad "file.txt/sub: cannot create the output folder (Not a directory)" sim --quiet $gemm --out file.txt/sub
bad "file.txt: cannot create the output folder" sim --quiet $gemm --out file.txt
bad "/proc/lbfp-hostile-out: cannot create the output folder" sim --quiet $gemm --out /proc/lbfp-hostile-out
mkdir -p dirs/summary.json
bad "dirs/summary.json: is a folder; cannot replace it with a report" sim --quiet $gemm --out dirs
[[ -z $(find dirs -type f) ]] || { echo "FAIL: a report was written next to a folder in the way"; fail=1; }

# ---- lbfp sweep ----------------------------------------------------------------------------
sw="--workload gemm:8,8,8 --out sw"
bad "--vary array.rows: expected key=v1,v2,..." sweep $sw --vary array.rows
bad "--vary =4,8: expected key=v1,v2,..." sweep $sw --vary =4,8
bad "--vary array.rows=4,,8: empty value" sweep $sw --vary array.rows=4,,8
bad "--vary name=a?b: control characters and quotes are not allowed" sweep $sw --vary "name=a
b"
bad "--vary array.rows=16: array.rows is varied twice" sweep $sw --vary array.rows=8 --vary array.rows=16
bad "point 1 (array.rows=0): <embedded>/configs/arch/lbfp8_16x16.yaml (--set): array.rows: 0 is outside 1..4096" \
  sweep $sw --vary array.rows=4,0
bad "point 0 (array.rows=abc): " sweep $sw --vary array.rows=abc
bad "point 0 (format=fp16): --format fp16: expected lbfp8, bfp8, both, arch, mxint8, mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2 or int8" sweep $sw --vary format=fp16
bad "point 0 (colour=blue): " sweep $sw --vary colour=blue
hundred=$(seq -s, 1 100)
bad "the sweep has 1000000 points, more than 100000" sweep $sw --vary a=$hundred --vary b=$hundred --vary c=$hundred
bad "--jobs: Value 0 not in range 1 to 1024" sweep $sw --vary array.rows=4 --jobs 0
bad "--jobs: Value -2 not in range 1 to 1024" sweep $sw --vary array.rows=4 --jobs -2
bad "--seed: expected a non-negative decimal integer" sweep $sw --vary array.rows=4 --seed -1
bad "--mode x: expected cycle or tile" sweep $sw --vary array.rows=4 --mode x
bad "nowhere.csv: cannot open the file" sweep --workload nowhere.csv --out sw --vary array.rows=4
bad "file.txt/sub/points: cannot create the output folder" sweep --workload gemm:8,8,8 --out file.txt/sub --vary array.rows=4
[[ ! -e sw ]] || { echo "FAIL: a refused sweep created its output folder"; fail=1; }
bad "sw/points/0000/summary.json: cannot read the point's summary" sweep $sw --vary array.rows=4 --collect
expect 0 "" sweep $sw --vary array.rows=4,8 --jobs 2
cp sw/sweep.csv sweep.before
printf '{"formats": {"lbfp8": {"total_cycles": "x"}}}' > sw/points/0000/summary.json
bad "format 'lbfp8': a result field is missing or not a number" sweep $sw --vary array.rows=4,8 --collect
echo '{}' > sw/points/0000/summary.json
bad "no 'formats' results (not an lbfp sim summary?)" sweep $sw --vary array.rows=4,8 --collect
head -c 100 sw/points/0001/summary.json > sw/points/0000/summary.json
bad "sw/points/0000/summary.json: cannot read the point's summary ([json.exception.parse_error" \
  sweep $sw --vary array.rows=4,8 --collect
cmp -s sw/sweep.csv sweep.before || { echo "FAIL: a failed --collect changed sweep.csv"; fail=1; }

# ---- lbfp eval -------------------------------------------------------------------------------
# A small IDX data set cut from the bytes of a model file (the pixels only need to be bytes).
idx_images() {  # FILE COUNT ROWS COLS
  { printf '\x00\x00\x08\x03'; be32 "$2"; be32 "$3"; be32 "$4"; head -c $(($2 * $3 * $4)) "$src/sim/models/lenet5.onnx"; } > "$1"
}
idx_labels() {  # FILE COUNT
  { printf '\x00\x00\x08\x01'; be32 "$2"; for ((i = 0; i < $2; ++i)); do printf "\\x0$((i % 10))"; done; } > "$1"
}
mkdir -p data
idx_images data/train-images-idx3-ubyte 20 28 28
idx_labels data/train-labels-idx1-ubyte 20
idx_images data/t10k-images-idx3-ubyte 10 28 28
idx_labels data/t10k-labels-idx1-ubyte 10
model=$src/sim/models/lenet5.onnx
ev="--model $model --calib-images 5"
d() { rm -rf d && cp -r data d; }
d; : > d/t10k-images-idx3-ubyte
bad "d/t10k-images-idx3-ubyte: truncated: 0 bytes, shorter than the 4-byte IDX magic" eval $ev --data d
d; head -c 1000 data/t10k-images-idx3-ubyte > d/t10k-images-idx3-ubyte
bad "d/t10k-images-idx3-ubyte: truncated: the header promises 7840 bytes of data, the file has 984" eval $ev --data d
d; { printf '\x00\x00\x08\x03'; be32 4294967295; be32 28; be32 28; } > d/t10k-images-idx3-ubyte
bad "d/t10k-images-idx3-ubyte: dimensions claim more than 1073741824 bytes; refused" eval $ev --data d
d; { printf '\x00\x00\x08\x03'; be32 1000000; be32 28; be32 28; printf 'short'; } > d/t10k-images-idx3-ubyte
bad "truncated: the header promises 784000000 bytes of data, the file has 5" eval $ev --data d
d; rm d/t10k-images-idx3-ubyte; gzip -c data/t10k-images-idx3-ubyte | head -c 3000 > d/t10k-images-idx3-ubyte.gz
bad "d/t10k-images-idx3-ubyte.gz: gzip error" eval $ev --data d
d; rm d/t10k-images-idx3-ubyte; printf 'not gzip' > d/t10k-images-idx3-ubyte.gz
bad "d/t10k-images-idx3-ubyte.gz: bad magic" eval $ev --data d
d; printf '\x00\x00\x0d\x03' > d/t10k-images-idx3-ubyte
bad "d/t10k-images-idx3-ubyte: element type 0x0d is not unsigned byte (0x08)" eval $ev --data d
d; cat data/t10k-images-idx3-ubyte > d/t10k-images-idx3-ubyte; printf 'xx' >> d/t10k-images-idx3-ubyte
bad "d/t10k-images-idx3-ubyte: 2 bytes after the data the header describes" eval $ev --data d
d; idx_images d/t10k-images-idx3-ubyte 0 28 28; idx_labels d/t10k-labels-idx1-ubyte 0
bad "d: the test split has no images" eval $ev --data d
d; idx_images d/train-images-idx3-ubyte 0 28 28; idx_labels d/train-labels-idx1-ubyte 0
bad "d: the training split has no images to calibrate on" eval $ev --data d
d; idx_images d/t10k-images-idx3-ubyte 10 14 14
bad "lenet5.onnx: input 1x28x28 does not fit the 14x14 images of d" eval $ev --data d
d; idx_labels d/t10k-labels-idx1-ubyte 9
bad "holds 10 images but d/t10k-labels-idx1-ubyte 9 labels" eval $ev --data d
d; { printf '\x00\x00\x08\x01'; be32 10; printf '\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0c'; } > d/t10k-labels-idx1-ubyte
bad "d/t10k-labels-idx1-ubyte: label 12 of item 9 is not a class 0..9" eval $ev --data d
d; rm d/t10k-labels-idx1-ubyte
bad "d/t10k-labels-idx1-ubyte[.gz] not found" eval $ev --data d
bad "data set 'nowhere': nowhere/t10k-images-idx3-ubyte[.gz] not found" eval $ev --data nowhere
bad "nan.onnx: initializer 'w': value 0 is NaN" eval --model nan.onnx --data data
bad "good.onnx: input 1x4x4 does not fit the 28x28 images of data" eval --model good.onnx --data data
bad "truncated.onnx: not an ONNX model" eval --model truncated.onnx --data data
bad "folder: is a directory" eval --model folder --data data
# Finite weights whose FP32 outputs overflow float: found while the images run, so the model and
# data lines are already on stdout.
onnx overflow "$conv $rest" "$(init w '1 1 1 1' 1e30) $(init g '784 10' "$(printf '1e30 %.0s' $(seq 7840))")" 28
stdout_ok=1 bad "overflow.onnx: the FP32 output of layer 'y' is infinite for training image 0 (the weights overflow float)" \
  eval --model overflow.onnx --data data --calib-images 5
# FP32 alone: the pass that keeps only the predictions checks every tensor of the test images.
stdout_ok=1 bad "overflow.onnx: the FP32 output of layer 'y' is infinite for test image 0 (the weights overflow float)" \
  eval --model overflow.onnx --data data --format fp32
stdout_ok=0
bad "--calib-images 0: a quantized format needs at least one calibration image" eval --model "$model" --data data --calib-images 0
bad "--calib-images: expected a non-negative decimal integer below 2^64, got '-1'" eval --model "$model" --data data --calib-images -1
bad "--calib-seed: expected a non-negative decimal integer below 2^64, got '-1'" eval $ev --data data --calib-seed -1
bad "--calib-seed: expected a non-negative decimal integer below 2^64, got '7x'" eval $ev --data data --calib-seed 7x
bad "--calib-seed: expected a non-negative decimal integer below 2^64, got '18446744073709551616'" eval $ev --data data --calib-seed 18446744073709551616
bad "--bias-correction: yes not in {off,on,both}" eval $ev --data data --bias-correction yes
bad "--test-images: expected a non-negative decimal integer" eval $ev --data data --test-images -5
bad "--batch: Value 0 not in range 1 to 1000000" eval $ev --data data --batch 0
bad "--threads: Value 0 not in range 1 to 256" eval $ev --data data --threads 0
bad "--threads: Value 100000 not in range 1 to 256" eval $ev --data data --threads 100000
bad "unknown number format 'fp16'" eval $ev --data data --format fp16
bad "unknown number format 'mxint9'" eval $ev --data data --format mxint9
# The LBFP family: W in 2..8, F in 0..W-2, named once.
bad "number format 'lbfp6f5': F = 5 must be in 0..4 for W = 6" eval $ev --data data --format lbfp6f5
bad "number format 'lbfp6': F = 5 must be in 0..4 for W = 6" eval $ev --data data --format lbfp6 --frac-bits 5
bad "number format 'lbfp9': the width W must be 2..8" eval $ev --data data --format lbfp9
bad "number format 'lbfp7fx': F = x must be in 0..5 for W = 7" eval $ev --data data --format lbfp7fx
bad "number format 'lbfp7f': F = (none) must be in 0..5 for W = 7" eval $ev --data data --format lbfp7f
bad "number format 'lbfp7f3' names F itself; --frac-bits 3 applies to lbfpW names only" eval $ev --data data --format lbfp7f3 --frac-bits 3
bad "--frac-bits 3: applies to the LBFP names lbfpW only (--format bfp8)" eval $ev --data data --format bfp8 --frac-bits 3
bad "--frac-bits: expected a non-negative decimal integer" eval $ev --data data --format lbfp7 --frac-bits -1
bad "Could not convert: --frac-bits = 99999999999" eval $ev --data data --format lbfp7 --frac-bits 99999999999
bad "--calib kl: int8 calibrates activations by max or percentile" eval $ev --data data --format int8 --calib kl
bad "--bias-correction on: applies to bfp8 and lbfp8, not mxfp8-e4m3" eval $ev --data data --format mxfp8-e4m3 --bias-correction on
bad "--weight-calib kl: fp8-e5m2 calibrates weights by max" eval $ev --data data --format fp8-e5m2 --calib max --weight-calib kl
bad "unknown calibration 'bogus'" eval $ev --data data --calib bogus
bad "file.txt/e.json: cannot write the exponents: file.txt is not a folder" eval $ev --data data --exponents-out file.txt/e.json
bad "folder: is a folder; --exponents-out names a file" eval $ev --data data --exponents-out folder
bad "file.txt: cannot create the output folder (a file of that name exists)" eval $ev --data data --out file.txt
bad "--exponents missing.json: cannot be read" eval $ev --data data --exponents missing.json
bad "--exponents file.txt: [json.exception.parse_error.101]" eval $ev --data data --exponents file.txt
# The file's content is checked against the graph after calibration: the model and data lines
# are already on stdout.
stdout_ok=1
echo '[{"format": "lbfp8", "weights": [{"layer": "nope", "per_output_channel": [0]}]}]' > e.json
bad "e.json: weights: unknown layer 'nope'" eval $ev --data data --format lbfp8 --exponents e.json
echo '[{"format": "lbfp8", "activations": [{"tensor": "input", "exponent": 300}]}]' > e.json
bad "e.json: input.exponent = 300 is not an integer in [-127, 127]" eval $ev --data data --exponents e.json
echo '[{"format": "lbfp8", "activations": [{"tensor": "input", "exponent": 18446744073709551615}]}]' > e.json
bad "e.json: input.exponent = 18446744073709551615 is not an integer in [-127, 127]" eval $ev --data data --exponents e.json
echo '[{"format": "lbfp8", "weights": [{"layer": "/conv1/Conv", "per_output_channel": [0]}]}]' > e.json
bad "e.json: weights: /conv1/Conv: 1 weight exponents for 6 output channels" eval $ev --data data --exponents e.json
bad "e.json: no configuration of a format this run evaluates" eval $ev --data data --format bfp8 --exponents e.json
stdout_ok=0
bad "file.txt/sub: cannot create the output folder (Not a directory)" eval $ev --data data --out file.txt/sub

# ---- lbfp golden -----------------------------------------------------------------------------
bad_lines '1\n' "exponent 200 is outside [-127, 127]" golden encode --exp 200
bad_lines '1\n' "Could not convert: --exp = 1.5" golden encode --exp 1.5
bad_lines '1\n' "--exp is required" golden encode
bad_lines '1\n' "LBFP width W=99 is not supported (2..8)" golden encode --exp 0 --format lbfp99
bad_lines '1\n' "unknown format 'fp8'" golden encode --exp 0 --format fp8
bad_lines '1\n' "LBFP fraction bits F=10 must be in 0..W-2 = 0..6" golden encode --exp 0 --frac-bits 10
bad_lines '1\n' "unknown format 'mxfp8' (expected lbfp8, bfp8, lbfpW / bfpW with W in 2..8, mxint8," golden encode --exp 0 --format mxfp8
bad_lines '1\n' "unknown format 'MXINT8'" golden encode --exp 0 --format MXINT8
bad_lines '1\n' "--frac-bits and --lut-bits apply to LBFP formats only, not int8" golden encode --exp 0 --format int8 --frac-bits 3
bad_lines '0x10 0x10\n' "accumulator bits A=127 must be in 2..126 for fp8-e5m2" golden mul --format fp8-e5m2 --acc-bits 127
bad_lines '0x10 0x10\n' "accumulator bits A=0 must be in 2..126 for mxint8" golden mul --format mxint8 --acc-bits 0
bad_lines '0x7f 0x10\n' "line 1: code 0x7f is E4M3 NaN, not a value" golden mul --format fp8-e4m3
bad_lines '0x7c\n' "line 1: code 0x7c is E5M2 infinity, not a value" golden decode --exp 0 --format mxfp8-e5m2
bad_lines '0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01 0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01,0x01\n' "line 1: mxint8 dot product of 33 elements: one MX block pair holds at most 32" golden dot --format mxint8
bad_lines '170141183460469231731687303715884105728\n' "line 1: '170141183460469231731687303715884105728' is not a decimal accumulator" golden requant --format mxfp8-e5m2 --exp 0 --scale 0
bad_lines '590295810358705651712\n' "line 1: accumulator value 590295810358705651712 does not fit in 70 bits" golden requant --format mxfp8-e5m2 --exp 0 --scale 0
bad_lines '1\n' "golden mx-scale applies to mxint8, mxfp8-e4m3 and mxfp8-e5m2 only, not fp8-e4m3" golden mx-scale --format fp8-e4m3
bad_lines '1\n' "golden encode-fp32 applies to fp8-e4m3, fp8-e5m2 and int8 only, not lbfp8" golden encode-fp32 --fp32-scale 1
bad_lines '1\n' "golden encode-fp32: --fp32-scale 0 is not a finite positive FP32 number" golden encode-fp32 --format int8 --fp32-scale 0
bad_lines '1\n' "golden encode-fp32: --fp32-scale 1e+300 is not a finite positive FP32 number" golden encode-fp32 --format int8 --fp32-scale 1e300
bad_lines '1\n' "--fp32-scale is required" golden encode-fp32 --format int8
bad_lines '1\n' "--so is required" golden requant-fp32 --format fp8-e4m3 --sa 1 --sb 1
bad_lines '1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1\n' "line 1: 33 values: an MX block holds at most 32" golden mx-scale --format mxint8
bad_lines '1,nan\n' "line 1: NaN cannot be encoded" golden mx-scale --format mxint8
bad_lines '\x2d1\n' "line 1: amax -1.000000 must be finite and non-negative" golden tensor-scale --format int8
bad_lines '1\n' "LBFP LUT bits P=40 must be in 0..30" golden encode --exp 0 --lut-bits 40
bad_lines '0x10 0x10\n' "accumulator bits A=100 must be in 2..62" golden mul --acc-bits 100
bad_lines '0x10 0x10\n' "--frac-bits and --lut-bits apply to LBFP formats only" golden mul --format bfp8 --frac-bits 3
bad_lines '1.0\nnan\n' "line 2: NaN cannot be encoded (input: 'nan')" golden encode --exp 0
bad_lines '1.0\n\n' "line 2: empty line" golden encode --exp 0
bad_lines '1,5\n' "line 1: '1,5' is not a decimal number" golden encode --exp 0
bad_lines '0x\n' "line 1: '0x' is not a hexadecimal code" golden decode --exp 0
bad_lines '0x10 0x1ff\n' "line 1: code 0x1ff does not fit" golden mul
bad_lines '0x10\n' "line 1: expected two codes '0xAA 0xBB'" golden mul
bad_lines '0x10 \x00\n' "line 1: control character \\x00 in the line" golden mul
bad_lines '0x10,,0x10 0x10,0x10,0x10\n' "line 1: '' is not a hexadecimal code" golden dot
bad_lines '0x10,0x10 0x10\n' "line 1: vectors have different lengths 2 and 1" golden dot
bad_lines '99999999999999999999\n' "line 1: '99999999999999999999' is not a decimal accumulator" golden requant --exp 0 --scale 0
bad_lines '4294967296\n' "accumulator value 4294967296 does not fit in 32 bits" golden requant --exp 0 --scale 0
bad_lines '1.5\n' "line 1: '1.5' is not a decimal accumulator" golden requant --exp 0 --scale 0
bad_lines '1\n' "A subcommand is required" golden frobnicate
stdin=/dev/zero bad "line 1: longer than 16777216 bytes" golden encode --exp 0
stdin=/dev/null

# ---- lbfp cosim and lbfp synth (their inputs are refused before any tool runs) ------------------
bad "--m: Value 0 not in range 1 to 4096" cosim array --m 0
bad "--k: Value 100000 not in range 1 to 65536" cosim array --k 100000
bad "--rows: Value 0 not in range 1 to 1024" cosim array --rows 0
bad "the RTL array is built for rows in 1..64, not 65" cosim array --rows 65
bad "unknown --config 'foo'" cosim array --config foo
bad "unknown --fill 'x' (random or saturate)" cosim array --fill x
bad "--dataflow xs: expected os, ws or is" cosim array --dataflow xs
bad "the RTL array is built for rows in 1..64, not 65" cosim array --dataflow ws --rows 65
bad "unknown --config 'foo'; the verilated weight-stationary arrays are" cosim array --dataflow is --config foo
bad "--seed: expected a non-negative decimal integer" cosim array --seed -1
bad "--acc-bits 100: the requantizer is verilated for A = 32 and A = 16" cosim requant --acc-bits 100
bad "--cases: Value -1 not in range 0 to 100000000" cosim requant --cases -1
bad "--cases: Value 100000001 not in range 0 to 100000000" cosim fmt-pe --cases 100000001
bad "--seed: expected a non-negative decimal integer" cosim fmt-pe --seed -1
bad "cannot open layer tile nowhere.txt" synth --layer-tile nowhere.txt --out sy
: > tile.txt
bad "tile.txt: expected 'activations', found ''" synth --layer-tile tile.txt --out sy
printf 'activations 2000000000 2000000000\n1 2\n' > tile.txt
bad "tile.txt: block 'activations' claims more than 16777216 values" synth --layer-tile tile.txt --out sy
printf 'activations 2 2\n1 2 3\n' > tile.txt
bad "tile.txt: truncated block 'activations'" synth --layer-tile tile.txt --out sy
printf 'activations 1 2\n1 2\nweights 3 1\n1 2 3\nbias 1\n0\n' > tile.txt
bad "tile.txt: weights do not match the activations" synth --layer-tile tile.txt --out sy
bad "/dev/zero: not a regular file (--layer-tile)" synth --layer-tile /dev/zero --out sy
bad "liberty file nowhere.lib not found" synth --liberty nowhere.lib --out sy
bad "/dev/zero: not a regular file (--liberty)" synth --liberty /dev/zero --out sy
: > e.lib
bad "e.lib:1: unexpected end of file" synth --liberty e.lib --out sy
printf 'library (x) {\n cell (INVX2) { area : 1; }\n}\n' > s.lib
bad "s.lib: no cell INVX1 with an input pin A" synth --liberty s.lib --out sy
[[ ! -e sy ]] || { echo "FAIL: a refused synth created its output folder"; fail=1; }
bad "--voltage: expected a finite number, got 'nan'" synth --voltage nan --out sy
bad "--frequency-mhz: Value 0 not in range 1.000000 to 5000.000000" synth --frequency-mhz 0 --out sy
bad "--ops: Value 0 not in range 64 to 10000000" synth --ops 0 --out sy
bad "--seed: expected a non-negative decimal integer" synth --seed -1 --out sy
bad "--units: foo not in {mul,mulheld,mac,pe,pews,array,arrayws,fmtmul,fmtmac,fmtpe,lbfpmul,lbfpmac}" synth --units foo --out sy
bad "--activity: foo not in {zero-delay,timed,both}" synth --activity foo --out sy
bad "--timed-delays: foo not in {inertial,transport}" synth --timed-delays foo --out sy
bad "LBFP family point W = 9, F = 3: needs 3 <= W <= 8" synth --units lbfpmul --lbfp-points 9:3 --out sy
bad "LBFP family point '7' is not W:F (e.g. 7:3) (--lbfp-points)" synth --units lbfpmul --lbfp-points 7 --out sy

# ---- reports: nothing half-written, byte-identical reruns --------------------------------------
[[ -z $(find . -name '*.tmp.*') ]] || { echo "FAIL: temporary report files left: $(find . -name '*.tmp.*')"; fail=1; }
# A run killed in the middle leaves the previous reports as they were.
"$lbfp" sim --quiet --workload gemm:64,64,64 --seed 1 --out killed || fail=1
cp -r killed killed.before
"$lbfp" sim --quiet --workload gemm:4096,4096,4096 --seed 2 --out killed &  # several seconds
sleep 0.5
kill -9 $! 2> /dev/null
wait $! 2> /dev/null
for f in layers.csv summary.json plot.svg; do
  cmp -s "killed/$f" "killed.before/$f" || { echo "FAIL: killed/$f changed by a killed run"; fail=1; }
done
# sweep.csv: the same inputs and seed, byte-identical.
for run in s1 s2; do
  "$lbfp" sweep --workload gemm:16,16,16 --vary array.rows=4,8 --vary format=lbfp8,bfp8 --seed 3 \
    --jobs 2 --out "$run" > /dev/null || { echo "FAIL: sweep $run"; fail=1; }
done
cmp -s s1/sweep.csv s2/sweep.csv || { echo "FAIL: sweep.csv differs between identical sweeps"; fail=1; }
# lbfp eval: the same exponents (and printout) twice.
for run in e1 e2; do
  mkdir -p "$run"
  (cd "$run" && "$lbfp" eval --model "$model" --data ../data --calib-images 10 --calib all \
     --threads 2 --exponents-out exponents.json > out.txt) || { echo "FAIL: eval $run"; fail=1; }
done
cmp -s e1/exponents.json e2/exponents.json || { echo "FAIL: the exponent files differ between identical evals"; fail=1; }
cmp -s e1/out.txt e2/out.txt || { echo "FAIL: eval printed different results for identical runs"; fail=1; }
grep -q '"exponent"' e1/exponents.json || { echo "FAIL: e1/exponents.json has no exponents"; fail=1; }
# ... and with a seeded calibration sample (--calib-seed): the same sample twice.
for run in f1 f2; do
  mkdir -p "$run"
  (cd "$run" && "$lbfp" eval --model "$model" --data ../data --calib-images 10 --calib-seed 3 \
     --calib all --threads 2 --exponents-out exponents.json > out.txt) || { echo "FAIL: eval $run"; fail=1; }
done
cmp -s f1/exponents.json f2/exponents.json || { echo "FAIL: the exponent files differ between identical seeded evals"; fail=1; }
cmp -s f1/out.txt f2/out.txt || { echo "FAIL: eval printed different results for identical seeded runs"; fail=1; }
grep -q 'sampled with seed 3' f1/out.txt || { echo "FAIL: a seeded eval does not say so"; fail=1; }

echo "hostile_cli: $cases hostile inputs tried"
exit $fail
