#!/usr/bin/env python3
"""Prints the exp2_q63 case table of lbfp_pkg.sv: floor(2^63 * 2^(k/128)), k in [0, 128).

Each entry is the largest N with N^128 <= 2^(63*128 + k), found with exact integers, so the
table agrees bit for bit with lbfp::detail::log_tables() of the golden model (the testbenches
check the LUT and the requantizer boundaries derived from it against the C++ API)."""


def iroot(x: int, n: int) -> int:
    lo, hi = 0, 1 << (x.bit_length() // n + 2)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid**n <= x:
            lo = mid
        else:
            hi = mid - 1
    return lo


for k in range(128):
    print(f"      {k}: exp2_q63 = 64'h{iroot(1 << (63 * 128 + k), 128):016x};")
