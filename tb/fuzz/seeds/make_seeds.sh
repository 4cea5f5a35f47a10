#!/usr/bin/env bash
# Regenerates the binary seeds of tb/fuzz/corpus from their sources: the ONNX seeds from the
# text protos here (protoc, libprotobuf-dev + libonnx-dev), the IDX seeds from the first images
# of MNIST and Fashion-MNIST (scripts/setup.sh installs both). Run from anywhere; commit the result.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
corpus="$here/../corpus"

mkdir -p "$corpus/onnx"
for proto in "$here"/*.textproto; do
  name="$(basename "$proto" .textproto)"
  protoc -I/usr/include --encode=onnx.ModelProto onnx/onnx.proto < "$proto" > "$corpus/onnx/$name.onnx"
done

# An IDX seed is one selector byte (0: parse_idx of the bytes, 1: read_idx of a .gz file) and the
# file: the header with the item count cut to N, and the first N items.
mnist="${LBFP_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lbfp}/mnist"
fashion=/usr/share/datasets/fashion-mnist
idx_head() {  # <file> <items> <bytes per item> <header bytes>: the file cut to <items> items
  python3 - "$@" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read() if not sys.argv[1].endswith('.gz') else __import__('gzip').open(sys.argv[1]).read()
items, per_item, header = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out = data[:4] + struct.pack('>I', items) + data[8:header] + data[header:header + items * per_item]
sys.stdout.buffer.write(out)
PY
}
mkdir -p "$corpus/idx"
{ printf '\x00'; idx_head "$mnist/t10k-labels-idx1-ubyte" 8 1 8; } > "$corpus/idx/mnist_labels"
{ printf '\x00'; idx_head "$mnist/t10k-images-idx3-ubyte" 1 784 16; } > "$corpus/idx/mnist_image"
{ printf '\x00'; head -c 16 "$mnist/t10k-images-idx3-ubyte"; } > "$corpus/idx/mnist_header_only"
{ printf '\x01'; idx_head "$fashion/t10k-labels-idx1-ubyte.gz" 8 1 8 | gzip -9n; } \
  > "$corpus/idx/fashion_labels_gz"
{ printf '\x01'; idx_head "$fashion/t10k-images-idx3-ubyte.gz" 1 784 16 | gzip -9n; } \
  > "$corpus/idx/fashion_image_gz"
