#include "lbfp/float_encoder.h"

#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "lbfp/x86_intrinsics.h"

namespace lbfp {
namespace {

float from_bits(uint32_t bits) {
  float x = 0.0f;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

#if defined(__x86_64__)
// operator() on 16 floats: the bucket's first level (a 32-bit gather of the uint16 table, the
// upper half masked off), one step on when |x| reaches the next change point, then the level's
// code pair and the sign's byte of it. Returns false, storing nothing, where a lane is Inf or NaN
// or needs a second step (never for 8-bit formats): the caller takes those 16 one by one.
__attribute__((target("avx512f"))) bool encode16_avx512(const float* x, Code* out,
                                                        const uint16_t* start,
                                                        const uint32_t* change,
                                                        const uint32_t* codes, int shift) {
  const __m512i bits = _mm512_loadu_si512(x);
  const __m512i magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
  if (_mm512_cmpge_epu32_mask(magnitude, _mm512_set1_epi32(0x7f800000)) != 0) return false;
  const __m512i bucket = _mm512_srli_epi32(magnitude, static_cast<unsigned>(shift));
  __m512i level = _mm512_and_si512(_mm512_i32gather_epi32(bucket, start, 2),
                                   _mm512_set1_epi32(0xffff));
  const __m512i one = _mm512_set1_epi32(1);
  __m512i next = _mm512_add_epi32(level, one);
  const __mmask16 up = _mm512_cmpge_epu32_mask(magnitude, _mm512_i32gather_epi32(next, change, 4));
  level = _mm512_mask_add_epi32(level, up, level, one);
  next = _mm512_add_epi32(level, one);
  if (_mm512_cmpge_epu32_mask(magnitude, _mm512_i32gather_epi32(next, change, 4)) != 0) {
    return false;
  }
  const __m512i pair = _mm512_i32gather_epi32(level, codes, 4);
  const __mmask16 negative = _mm512_cmplt_epi32_mask(bits, _mm512_setzero_si512());
  const __m512i code = _mm512_mask_srli_epi32(pair, negative, pair, 8);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_cvtepi32_epi8(code));
  return true;
}

// The same with one gather (FloatEncoder::step_): the bucket's first level and its change
// point's offset, one step on when |x|'s low 16 bits reach it; then the codes by byte permutes
// of the code tables (VBMI), indexed by the level less `first` (saturating at 0).
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) bool encode16_step_avx512(
    const float* x, Code* out, const uint32_t* step, const __m512i positive[2],
    const __m512i negative[2], __m128i first) {
  const __m512i bits = _mm512_loadu_si512(x);
  const __m512i magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
  if (_mm512_cmpge_epu32_mask(magnitude, _mm512_set1_epi32(0x7f800000)) != 0) return false;
  const __m512i entry = _mm512_i32gather_epi32(_mm512_srli_epi32(magnitude, 16), step, 4);
  __m512i level = _mm512_and_si512(entry, _mm512_set1_epi32(0x7fff));
  const __mmask16 up = _mm512_cmpge_epu32_mask(
      _mm512_and_si512(magnitude, _mm512_set1_epi32(0xffff)), _mm512_srli_epi32(entry, 15));
  level = _mm512_mask_add_epi32(level, up, level, _mm512_set1_epi32(1));
  const __m512i index =
      _mm512_castsi128_si512(_mm_subs_epu8(_mm512_cvtepi32_epi8(level), first));
  const __m512i plus = _mm512_permutex2var_epi8(positive[0], index, positive[1]);
  const __m512i minus = _mm512_permutex2var_epi8(negative[0], index, negative[1]);
  const __mmask16 sign = _mm512_cmplt_epi32_mask(bits, _mm512_setzero_si512());
  const __m512i code = _mm512_mask_blend_epi8(sign, plus, minus);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm512_castsi512_si128(code));
  return true;
}

// BFP: lbfp::encode's own arithmetic on 8 floats, in doubles: x * 2^(W - 1 - E) (exact: a
// float times a power of two from 2^-126 to 2^134 is a normal double), rounded half to even
// (nearbyint in the default mode), clamped to +-max; the integers.
__attribute__((target("avx512f"), always_inline)) inline __m256i bfp_mantissas8(__m256 x,
                                                                               __m512d scale,
                                                                               __m512d max) {
  const __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(_mm512_cvtps_pd(x), scale),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_cvtpd_epi32(
      _mm512_min_pd(max, _mm512_max_pd(_mm512_sub_pd(_mm512_setzero_pd(), max), n)));
}

// encode_all for BFP by that arithmetic, 16 floats at a time, each code the width's low bits of
// its integer: no table and no gather. Returns how many values it encoded (a multiple of 16); a
// block with an Inf or NaN goes one by one (operator()).
template <class Encoder>
__attribute__((target("avx512f"))) size_t encode_bfp_by_arithmetic(const Encoder& encoder,
                                                                    const float* x, Code* out,
                                                                    size_t count, int width,
                                                                    int exponent) {
  const __m512d scale = _mm512_set1_pd(std::ldexp(1.0, width - 1 - exponent));
  const __m512d max = _mm512_set1_pd(static_cast<double>((1 << (width - 1)) - 1));
  const __m512i low_bits = _mm512_set1_epi32((1 << width) - 1);
  size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m512i bits = _mm512_loadu_si512(x + i);
    const __m512i magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
    if (_mm512_cmpge_epu32_mask(magnitude, _mm512_set1_epi32(0x7f800000)) != 0) {
      for (size_t j = i; j < i + 16; ++j) out[j] = encoder(x[j]);
      continue;
    }
    const __m512 v = _mm512_castsi512_ps(bits);
    const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    const __m512i n =
        _mm512_inserti64x4(_mm512_castsi256_si512(bfp_mantissas8(_mm512_castps512_ps256(v),
                                                                 scale, max)),
                           bfp_mantissas8(high, scale, max), 1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm512_cvtepi32_epi8(_mm512_and_si512(n, low_bits)));
  }
  return i;
}

// encode_all's blocks of 16 by encode16_step_avx512, the code tables of levels `first` to
// `first` + 127 in the permutes' registers; returns how many values it encoded (a multiple of
// 16). A block with an Inf or NaN goes one by one (operator()).
template <class Encoder>
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) size_t encode_by_steps(
    const Encoder& encoder, const float* x, Code* out, size_t count, const uint32_t* step,
    const std::vector<Code>& positive_codes, const std::vector<Code>& negative_codes,
    size_t first) {
  alignas(64) Code plus[128] = {}, minus[128] = {};
  for (size_t l = first; l < positive_codes.size(); ++l) {
    plus[l - first] = positive_codes[l];
    minus[l - first] = negative_codes[l];
  }
  const __m512i positive[2] = {_mm512_load_si512(plus), _mm512_load_si512(plus + 64)};
  const __m512i negative[2] = {_mm512_load_si512(minus), _mm512_load_si512(minus + 64)};
  const __m128i from = _mm_set1_epi8(static_cast<char>(first));
  size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    if (!encode16_step_avx512(x + i, out + i, step, positive, negative, from)) {
      for (size_t j = i; j < i + 16; ++j) out[j] = encoder(x[j]);
    }
  }
  return i;
}
#endif

}  // namespace

template <class Format>
void FloatEncoder<Format>::encode_all(const float* x, Code* out, size_t count) const {
  size_t i = 0;
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") != 0;
  static const bool vbmi = avx512 && __builtin_cpu_supports("avx512bw") != 0 &&
                           __builtin_cpu_supports("avx512vbmi") != 0;
  if constexpr (std::is_same_v<Format, BfpFormat>) {
    if (avx512) {
      i = encode_bfp_by_arithmetic(*this, x, out, count, format_.width(), exponent_);
    }
  } else if (vbmi && !step_.empty()) {
    i = encode_by_steps(*this, x, out, count, step_.data(), positive_, negative_, step_first_);
  } else if (avx512) {
    for (; i + 16 <= count; i += 16) {
      if (!encode16_avx512(x + i, out + i, start_.data(), change_.data(), codes_.data(),
                           kBucketShift)) {
        for (size_t j = i; j < i + 16; ++j) out[j] = (*this)(x[j]);
      }
    }
  }
#endif
  for (; i < count; ++i) out[i] = (*this)(x[i]);
}

template <class Format>
FloatEncoder<Format>::FloatEncoder(const Format& format, int exponent)
    : format_(format), exponent_(exponent) {
  constexpr uint32_t kLargest = 0x7f7fffffu;  // the largest finite float
  auto code_of = [&](uint32_t bits, bool negative) {
    const double x = static_cast<double>(from_bits(bits));
    return encode(format_, negative ? -x : x, exponent_);
  };
  // Levels: maximal runs of |x| bit patterns with one code; the next run starts at the least
  // pattern whose code differs (the golden code of |x| never decreases).
  // Level 0 is +-0 alone (lbfp::encode returns the zero code for it whatever tiny values give).
  for (uint32_t bits : {0u, 1u}) {
    change_.push_back(bits);
    positive_.push_back(code_of(bits, false));
    negative_.push_back(code_of(bits, true));
  }
  for (;;) {
    const Code current = code_of(change_.back(), false);
    if (code_of(kLargest, false) == current) break;
    uint32_t lo = change_.back(), hi = kLargest;  // code(lo) == current != code(hi)
    while (hi - lo > 1) {
      const uint32_t mid = lo + (hi - lo) / 2;
      if (code_of(mid, false) == current) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    change_.push_back(hi);
    positive_.push_back(code_of(hi, false));
    negative_.push_back(code_of(hi, true));
  }
  change_.push_back(0x7f800000u);  // sentinel: Inf and NaN never reach the scan
  const size_t buckets = (size_t{0x7f800000u} >> kBucketShift) + 1;
  start_.assign(buckets, 0);
  size_t level = 0;
  for (size_t b = 0; b < buckets; ++b) {
    const auto first = static_cast<uint32_t>(b << kBucketShift);
    while (level + 1 < change_.size() - 1 && change_[level + 1] <= first) ++level;
    start_[b] = static_cast<uint16_t>(level);
  }
  start_.push_back(0);  // encode_all's 32-bit gathers read two entries from the last bucket
  // step_: the change points inside each bucket (after its first pattern), at most one each;
  // and at most 128 levels for the permutes' tables, or 129 whose first two have the same codes.
  static_assert(kBucketShift == 16, "step_ keeps 16 bits of a change point");
  const size_t levels = positive_.size();
  step_first_ = levels == 129 && positive_[0] == positive_[1] && negative_[0] == negative_[1]
                    ? 1
                    : 0;
  bool one_step = levels - step_first_ <= 128;
  std::vector<uint32_t> step(buckets, uint32_t{0x10000} << 15);
  for (size_t b = 0; b < buckets && one_step; ++b) step[b] |= start_[b];
  for (size_t l = 1; l + 1 < change_.size() && one_step; ++l) {
    const uint32_t c = change_[l];
    if ((c & 0xffffu) == 0) continue;  // a bucket's first pattern: its start level
    uint32_t& entry = step[c >> kBucketShift];
    if ((entry >> 15) != 0x10000) one_step = false;  // a second change point in the bucket
    entry = (entry & 0x7fffu) | (c & 0xffffu) << 15;
  }
  if (one_step) step_ = std::move(step);
  for (size_t l = 0; l < positive_.size(); ++l) {
    codes_.push_back(uint32_t{positive_[l]} | uint32_t{negative_[l]} << 8);
  }
}

template class FloatEncoder<LbfpFormat>;
template class FloatEncoder<BfpFormat>;
template class FloatEncoder<ScaledFormat>;

}  // namespace lbfp
