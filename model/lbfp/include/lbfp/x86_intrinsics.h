// <immintrin.h> for the project's vector code (compiled through function target attributes and
// called after a run-time CPU check). GCC 12 reports -Wmaybe-uninitialized inside its own
// AVX-512 intrinsics (their _mm512_undefined_* pass-through operands) wherever they are inlined,
// at the header's lines: the warning is silenced around the include only, so the including
// file's own code keeps it. Clang has no such warning (and would warn about the unknown option).
#pragma once

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif
