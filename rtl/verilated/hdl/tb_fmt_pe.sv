// Testbench top for the output-stationary PEs of the section 13 formats, verilated once: INT8 /
// MXINT8 (rtl/pe.sv with UseBfp = 1, the BFP8 PE, A = 32), FP8 E4M3 (rtl/pe_fp8.sv, A = 42) and
// E5M2 (A = 70), each as `lbfp synth --units fmtpe` builds it (PipeStages = 1): the textbook PE
// (HoldZeros = 0) and the one with LBFP8's operand hold (HoldZeros = 1). All six play one
// stream; each has its own start value (bias_i, init_ovf_i), since their widths differ.
module tb_fmt_pe (
  input  logic        clk_i,
  input  logic        rst_ni,
  input  logic        valid_i,
  input  logic        first_i,
  input  logic        last_i,
  input  logic [7:0]  a_i,
  input  logic [7:0]  b_i,
  input  logic        init_ovf_i,
  input  logic [31:0] int8_bias_i,
  input  logic [41:0] e4m3_bias_i,
  input  logic [69:0] e5m2_bias_i,
  // Per PE, index 0 the textbook PE, 1 the one with the hold: {valid, first, last, a, b}
  // forwarded, the accumulator, its flags and done.
  output logic [37:0] int8_fwd_o,
  output logic [63:0] int8_acc_o,
  output logic [1:0]  int8_ovf_o,
  output logic [1:0]  int8_done_o,
  output logic [37:0] e4m3_fwd_o,
  output logic [83:0] e4m3_acc_o,
  output logic [1:0]  e4m3_ovf_o,
  output logic [1:0]  e4m3_invalid_o,
  output logic [1:0]  e4m3_done_o,
  output logic [37:0] e5m2_fwd_o,
  output logic [139:0] e5m2_acc_o,
  output logic [1:0]  e5m2_ovf_o,
  output logic [1:0]  e5m2_invalid_o,
  output logic [1:0]  e5m2_done_o
);
  for (genvar h = 0; h < 2; h++) begin : gen_hold
    pe #(
      .UseBfp    (1'b1),
      .DataWidth (8),
      .AccWidth  (32),
      .PipeStages(1),
      .HoldZeros (h != 0)
    ) u_int8 (
      .clk_i     (clk_i),
      .rst_ni    (rst_ni),
      .valid_i   (valid_i),
      .first_i   (first_i),
      .last_i    (last_i),
      .a_i       (a_i),
      .b_i       (b_i),
      .bias_i    (int8_bias_i),
      .init_ovf_i(init_ovf_i),
      .valid_o   (int8_fwd_o[h*19 + 18]),
      .first_o   (int8_fwd_o[h*19 + 17]),
      .last_o    (int8_fwd_o[h*19 + 16]),
      .a_o       (int8_fwd_o[h*19 + 8 +: 8]),
      .b_o       (int8_fwd_o[h*19 +: 8]),
      .acc_o     (int8_acc_o[h*32 +: 32]),
      .ovf_o     (int8_ovf_o[h]),
      .done_o    (int8_done_o[h])
    );

    pe_fp8 #(
      .ExpBits   (4),
      .MantBits  (3),
      .HasInf    (1'b0),
      .AccWidth  (42),
      .PipeStages(1),
      .HoldZeros (h != 0)
    ) u_e4m3 (
      .clk_i     (clk_i),
      .rst_ni    (rst_ni),
      .valid_i   (valid_i),
      .first_i   (first_i),
      .last_i    (last_i),
      .a_i       (a_i),
      .b_i       (b_i),
      .bias_i    (e4m3_bias_i),
      .init_ovf_i(init_ovf_i),
      .valid_o   (e4m3_fwd_o[h*19 + 18]),
      .first_o   (e4m3_fwd_o[h*19 + 17]),
      .last_o    (e4m3_fwd_o[h*19 + 16]),
      .a_o       (e4m3_fwd_o[h*19 + 8 +: 8]),
      .b_o       (e4m3_fwd_o[h*19 +: 8]),
      .acc_o     (e4m3_acc_o[h*42 +: 42]),
      .ovf_o     (e4m3_ovf_o[h]),
      .invalid_o (e4m3_invalid_o[h]),
      .done_o    (e4m3_done_o[h])
    );

    pe_fp8 #(
      .ExpBits   (5),
      .MantBits  (2),
      .HasInf    (1'b1),
      .AccWidth  (70),
      .PipeStages(1),
      .HoldZeros (h != 0)
    ) u_e5m2 (
      .clk_i     (clk_i),
      .rst_ni    (rst_ni),
      .valid_i   (valid_i),
      .first_i   (first_i),
      .last_i    (last_i),
      .a_i       (a_i),
      .b_i       (b_i),
      .bias_i    (e5m2_bias_i),
      .init_ovf_i(init_ovf_i),
      .valid_o   (e5m2_fwd_o[h*19 + 18]),
      .first_o   (e5m2_fwd_o[h*19 + 17]),
      .last_o    (e5m2_fwd_o[h*19 + 16]),
      .a_o       (e5m2_fwd_o[h*19 + 8 +: 8]),
      .b_o       (e5m2_fwd_o[h*19 +: 8]),
      .acc_o     (e5m2_acc_o[h*70 +: 70]),
      .ovf_o     (e5m2_ovf_o[h]),
      .invalid_o (e5m2_invalid_o[h]),
      .done_o    (e5m2_done_o[h])
    );
  end
endmodule
