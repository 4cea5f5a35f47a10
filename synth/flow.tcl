# One unit through the OSU 0.18 um flow (docs/hardware-cost.md). Run as
#   yosys -c synth/flow.tcl   with the environment
#   LBFP_SYNTH_TOP      top module (lbfp_mul_unit, bfp_mul, lbfp_mac, ...)
#   LBFP_SYNTH_SOURCES  the SystemVerilog files, space-separated, rtl/lbfp_pkg.sv first
#   LBFP_SYNTH_LIBERTY  osu018_stdcells.lib
#   LBFP_SYNTH_OUT      output folder: netlist.v, netlist.json, area.txt, cmos.txt
#   LBFP_SYNTH_PARAMS   optional "name value ..." overrides of the top's parameters
set top     $::env(LBFP_SYNTH_TOP)
set sources $::env(LBFP_SYNTH_SOURCES)
set lib     $::env(LBFP_SYNTH_LIBERTY)
set out     $::env(LBFP_SYNTH_OUT)

# rtl/ (the folder of the package, the first source) on the include path: the synthesis tops of
# synth/rtl include lbfp_registers.svh from there.
set rtl_dir [file dirname [lindex $sources 0]]
foreach src $sources {
  yosys read_verilog -sv -I$rtl_dir $src
}
if {[info exists ::env(LBFP_SYNTH_PARAMS)]} {
  foreach {name value} $::env(LBFP_SYNTH_PARAMS) {
    yosys chparam -set $name $value $top
  }
}
yosys hierarchy -check -top $top
yosys synth -top $top -flatten
yosys design -save generic

# Standard cells: flip-flops first, then the combinational logic with ABC.
yosys dfflibmap -liberty $lib
yosys abc -liberty $lib
yosys opt_clean -purge
# Short public names for every net, so that the Verilog netlist, its JSON twin and the Verilator
# trace all call a net the same.
yosys rename -enumerate -pattern n%
yosys tee -q -o $out/area.txt stat -liberty $lib
yosys write_verilog -noattr $out/netlist.v
yosys write_json $out/netlist.json

# Technology-free measure: the same generic netlist in CMOS gates, counted in transistors.
yosys design -load generic
# Flip-flops as plain $_DFF_P_ (16 transistors each) with their reset and enable as gates, the
# only flip-flop that stat -tech cmos prices.
yosys async2sync
yosys dfflegalize -cell {$_DFF_P_} 01
yosys abc -g cmos2
yosys opt_clean -purge
yosys tee -q -o $out/cmos.txt stat -tech cmos
