#!/usr/bin/env bash
# The `lbfp golden` contract through the real binary: stdout, stderr and exit status.
set -u
lbfp=$1
fail=0
check() {  # name, expected status, expected stdout, command...
  local name=$1 want_rc=$2 want_out=$3
  shift 3
  local out rc
  out=$("$@" 2>/tmp/golden_cli_err.$$)
  rc=$?
  if [[ $rc -ne $want_rc || "$out" != "$want_out" ]]; then
    echo "FAIL $name: status $rc (want $want_rc), stdout '$out' (want '$want_out')"
    cat /tmp/golden_cli_err.$$
    fail=1
  else
    echo "ok   $name"
  fi
}
check encode 0 $'0x70\n0x7f\n0x00' \
  bash -c "printf '1.0\ninf\n-0.0\n' | '$lbfp' golden encode --format lbfp8 --exp 1"
check mul 0 $'1024\n-279' bash -c "printf '0x10 0x10\n0x81 0x01\n' | '$lbfp' golden mul --format lbfp8"
check dot 0 '745 0' bash -c "printf '0x10,0x81 0x10,0x01\n' | '$lbfp' golden dot --format lbfp8 --acc-bits 32"
check requant 0 '0x7f' bash -c "echo 16777216 | '$lbfp' golden requant --format lbfp8 --scale -24 --exp 0"
check requant-relu 0 '0x00' bash -c "echo -5 | '$lbfp' golden requant --format lbfp8 --scale 0 --exp 0 --relu"
check nan 2 '' bash -c "printf '1.0\nnan\n' | '$lbfp' golden encode --format lbfp8 --exp 0"
check bad-code 2 '' bash -c "echo '0x10 0x1ff' | '$lbfp' golden mul --format lbfp8"
check bad-format 2 '' bash -c "echo '0x10 0x10' | '$lbfp' golden mul --format fp8"
check mx-encode 0 $'0x7a\n0xfb' \
  bash -c "printf '1.5\n-1.75\n' | '$lbfp' golden encode --format mxfp8-e5m2 --exp -15"
check fp8-mul 0 $'262144\n-1' bash -c "printf '0x38 0x38\n0x01 0x81\n' | '$lbfp' golden mul --format fp8-e4m3"
check int8-dot 0 '-16255 0' bash -c "printf '0x80,0x01 0x7f,0x01\n' | '$lbfp' golden dot --format int8"
check mxint8-requant 0 '0x7f' bash -c "echo 16384 | '$lbfp' golden requant --format mxint8 --scale -12 --exp 0"
check lbfp6-mul 0 '1024' bash -c "echo '0x08 0x08' | '$lbfp' golden mul --format lbfp6 --frac-bits 3"
check encode-fp32 0 $'0x40\n0x4c\n0xfe' \
  bash -c "printf '1.0\n2.9\n-500\n' | '$lbfp' golden encode-fp32 --format fp8-e4m3 --fp32-scale 0.5"
check requant-fp32 0 $'0x07\n0x00' bash -c "printf '1000\n-5\n' | '$lbfp' golden requant-fp32 --format int8 --sa 0.0123 --sb 0.0456 --so 0.0789 --relu"
check mx-scale 0 $'-7\n-8' bash -c "printf '0.5,-3,1\n0\n' | '$lbfp' golden mx-scale --format mxfp8-e4m3"
check tensor-scale 0 $'1\n0.00566964271' bash -c "printf '448\n2.54\n' | '$lbfp' golden tensor-scale --format fp8-e4m3"
check bad-mx-format 2 '' bash -c "echo '0x10 0x10' | '$lbfp' golden mul --format mxfp8"
check bad-fp8-nan 2 '' bash -c "echo '0x7f 0x10' | '$lbfp' golden mul --format fp8-e4m3"
check bad-exp 2 '' bash -c "echo 1 | '$lbfp' golden encode --format lbfp8 --exp 128"
check missing-exp 2 '' bash -c "echo 1 | '$lbfp' golden encode --format lbfp8"
check unknown-sub 2 '' "$lbfp" golden frobnicate
check help 0 "$("$lbfp" golden mul --help)" "$lbfp" golden mul --help
if ! "$lbfp" golden example | grep -q 'all outputs'; then echo "FAIL example"; fail=1; fi
grep -q 'line 2' <(printf '1.0\nnan\n' | "$lbfp" golden encode --format lbfp8 --exp 0 2>&1) ||
  { echo "FAIL: error does not name line 2"; fail=1; }
rm -f /tmp/golden_cli_err.$$
exit $fail
