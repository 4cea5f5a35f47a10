#include "lbfp/float_encoder.h"

#include <cstring>

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
#endif

}  // namespace

template <class Format>
void FloatEncoder<Format>::encode_all(const float* x, Code* out, size_t count) const {
  size_t i = 0;
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") != 0;
  if (avx512) {
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
  for (size_t l = 0; l < positive_.size(); ++l) {
    codes_.push_back(uint32_t{positive_[l]} | uint32_t{negative_[l]} << 8);
  }
}

template class FloatEncoder<LbfpFormat>;
template class FloatEncoder<BfpFormat>;
template class FloatEncoder<ScaledFormat>;

}  // namespace lbfp
