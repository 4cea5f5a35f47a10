// The pooling window walk of the FP32, LBFP / BFP and section 13 networks (inference.cpp,
// scaled_inference.cpp): one definition, so that every format pools over the same windows.
#pragma once

#include <cstddef>
#include <vector>

#include "lbfp/eval/graph.h"

namespace lbfp::eval::detail {

// Pooling over one plane; `reduce` gets the window's in-bounds values and the window size.
template <class T, class Fn>
void pool_plane(const Node& n, const ActShape& is, const ActShape& os, const T* x, T* y, Fn reduce) {
  std::vector<T> window;
  window.reserve(n.kernel_h * n.kernel_w);
  for (size_t oy = 0; oy < os.h; ++oy) {
    for (size_t ox = 0; ox < os.w; ++ox) {
      window.clear();
      for (size_t ky = 0; ky < n.kernel_h; ++ky) {
        const long iy = static_cast<long>(oy * n.stride_h + ky) - static_cast<long>(n.pad_h);
        for (size_t kx = 0; kx < n.kernel_w; ++kx) {
          const long ix = static_cast<long>(ox * n.stride_w + kx) - static_cast<long>(n.pad_w);
          if (iy >= 0 && ix >= 0 && iy < static_cast<long>(is.h) && ix < static_cast<long>(is.w)) {
            window.push_back(x[static_cast<size_t>(iy) * is.w + static_cast<size_t>(ix)]);
          }
        }
      }
      const size_t count = n.count_include_pad ? n.kernel_h * n.kernel_w : window.size();
      y[oy * os.w + ox] = reduce(window, count);
    }
  }
}

// Node n's MaxPool, AveragePool or GlobalAveragePool over `batch` images (every channel plane).
template <class T, class Fn>
void pool(const Graph& g, const Node& n, const T* in, T* out, size_t batch, Fn reduce) {
  const ActShape& is = g.tensor_shapes[static_cast<size_t>(n.inputs[0])];
  const ActShape& os = g.tensor_shapes[static_cast<size_t>(n.output)];
  Node window = n;
  if (n.kind == OpKind::kGlobalAvgPool) {
    window.kernel_h = is.h;
    window.kernel_w = is.w;
    window.stride_h = window.stride_w = 1;
    window.pad_h = window.pad_w = 0;
  }
  for (size_t p = 0; p < batch * is.c; ++p) {
    pool_plane(window, is, os, in + p * is.h * is.w, out + p * os.h * os.w, reduce);
  }
}

}  // namespace lbfp::eval::detail
