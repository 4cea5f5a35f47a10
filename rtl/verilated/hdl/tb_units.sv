// Testbench top for the units, verilated once for all unit testbenches: the LBFP8
// product (multiplier + shifter; also as the held-operand PE builds it, with the zero flag as an
// input), the BFP8 multiplier (plain and with operand isolation; also the INT8 and MXINT8
// multiplier), the FP8 E4M3 and E5M2 multipliers (also those of MXFP8), the
// LBFP8 requantizer at two accumulator widths (A = 32 and A = 16, whose boundary constants
// differ), and the MACs of the section 13 formats on one operand stream: INT8 / MXINT8 (the BFP8
// MAC top of synth/rtl, bfp_mac, A = 32), FP8 E4M3 (fp8_mac, A = 42) and E5M2 (A = 70). The
// combinational units do not use the clock.
module tb_units (
  input  logic [7:0]  lbfp_a_i,
  input  logic [7:0]  lbfp_b_i,
  output logic        lbfp_neg_o,
  output logic        lbfp_zero_o,
  output logic [8:0]  lbfp_lut_o,
  output logic [3:0]  lbfp_shift_o,
  output logic [23:0] lbfp_mag_o,
  output logic [24:0] lbfp_prod_o,
  input  logic        lbfp_held_zero_i,  // the zero flag of the held-operand product
  output logic [24:0] lbfp_held_prod_o,  // lbfp_product ZeroFlagIn = 1 on lbfp_a_i, lbfp_b_i
  input  logic [7:0]  bfp_a_i,
  input  logic [7:0]  bfp_b_i,
  output logic [15:0] bfp_prod_o,
  output logic [15:0] bfp_iso_prod_o,  // the same multiplier with operand isolation
  input  logic [7:0]  fp8_a_i,
  input  logic [7:0]  fp8_b_i,
  output logic        e4m3_invalid_o,
  output logic [36:0] e4m3_prod_o,
  output logic        e5m2_invalid_o,
  output logic [64:0] e5m2_prod_o,
  input  logic [31:0] rq32_acc_i,
  input  logic [15:0] rq16_acc_i,
  input  logic [11:0] rq_exp_shift_i,
  input  logic        rq_relu_i,
  output logic [7:0]  rq32_code_o,
  output logic [7:0]  rq16_code_o,
  input  logic        clk_i,
  input  logic        rst_ni,
  input  logic        mac_valid_i,
  input  logic        mac_first_i,
  input  logic [7:0]  mac_a_i,
  input  logic [7:0]  mac_b_i,
  output logic [31:0] int8_acc_o,
  output logic        int8_ovf_o,
  output logic [41:0] e4m3_acc_o,
  output logic        e4m3_ovf_o,
  output logic        e4m3_mac_invalid_o,
  output logic [69:0] e5m2_acc_o,
  output logic        e5m2_ovf_o,
  output logic        e5m2_mac_invalid_o
);
  lbfp_product #(
    .DataWidth(8),
    .FracBits (4),
    .LutBits  (8)
  ) u_lbfp_product (
    .a_i    (lbfp_a_i),
    .b_i    (lbfp_b_i),
    .zero_i (1'b0),
    .neg_o  (lbfp_neg_o),
    .zero_o (lbfp_zero_o),
    .lut_o  (lbfp_lut_o),
    .shift_o(lbfp_shift_o),
    .mag_o  (lbfp_mag_o),
    .prod_o (lbfp_prod_o)
  );

  /* verilator lint_off UNUSEDSIGNAL */
  logic        held_neg, held_zero;
  logic [8:0]  held_lut;
  logic [3:0]  held_shift;
  logic [23:0] held_mag;
  /* verilator lint_on UNUSEDSIGNAL */
  lbfp_product #(
    .DataWidth (8),
    .FracBits  (4),
    .LutBits   (8),
    .ZeroFlagIn(1'b1)
  ) u_lbfp_held_product (
    .a_i    (lbfp_a_i),
    .b_i    (lbfp_b_i),
    .zero_i (lbfp_held_zero_i),
    .neg_o  (held_neg),
    .zero_o (held_zero),
    .lut_o  (held_lut),
    .shift_o(held_shift),
    .mag_o  (held_mag),
    .prod_o (lbfp_held_prod_o)
  );

  bfp_mul #(
    .DataWidth(8)
  ) u_bfp_mul (
    .a_i   (bfp_a_i),
    .b_i   (bfp_b_i),
    .prod_o(bfp_prod_o)
  );

  bfp_mul #(
    .DataWidth   (8),
    .IsolateZeros(1'b1)
  ) u_bfp_mul_iso (
    .a_i   (bfp_a_i),
    .b_i   (bfp_b_i),
    .prod_o(bfp_iso_prod_o)
  );

  fp8_mul #(
    .ExpBits (4),
    .MantBits(3),
    .HasInf  (1'b0)
  ) u_e4m3_mul (
    .a_i      (fp8_a_i),
    .b_i      (fp8_b_i),
    .invalid_o(e4m3_invalid_o),
    .prod_o   (e4m3_prod_o)
  );

  fp8_mul #(
    .ExpBits (5),
    .MantBits(2),
    .HasInf  (1'b1)
  ) u_e5m2_mul (
    .a_i      (fp8_a_i),
    .b_i      (fp8_b_i),
    .invalid_o(e5m2_invalid_o),
    .prod_o   (e5m2_prod_o)
  );

  lbfp_requant #(
    .DataWidth(8),
    .FracBits (4),
    .AccWidth (32),
    .ExpWidth (12)
  ) u_requant32 (
    .acc_i      (rq32_acc_i),
    .exp_shift_i(rq_exp_shift_i),
    .relu_i     (rq_relu_i),
    .code_o     (rq32_code_o)
  );

  lbfp_requant #(
    .DataWidth(8),
    .FracBits (4),
    .AccWidth (16),
    .ExpWidth (12)
  ) u_requant16 (
    .acc_i      (rq16_acc_i),
    .exp_shift_i(rq_exp_shift_i),
    .relu_i     (rq_relu_i),
    .code_o     (rq16_code_o)
  );

  bfp_mac #(
    .DataWidth(8),
    .AccWidth (32)
  ) u_int8_mac (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .valid_i(mac_valid_i),
    .first_i(mac_first_i),
    .a_i    (mac_a_i),
    .b_i    (mac_b_i),
    .acc_o  (int8_acc_o),
    .ovf_o  (int8_ovf_o)
  );

  fp8_mac #(
    .ExpBits (4),
    .MantBits(3),
    .HasInf  (1'b0),
    .AccWidth(42)
  ) u_e4m3_mac (
    .clk_i    (clk_i),
    .rst_ni   (rst_ni),
    .valid_i  (mac_valid_i),
    .first_i  (mac_first_i),
    .a_i      (mac_a_i),
    .b_i      (mac_b_i),
    .acc_o    (e4m3_acc_o),
    .ovf_o    (e4m3_ovf_o),
    .invalid_o(e4m3_mac_invalid_o)
  );

  fp8_mac #(
    .ExpBits (5),
    .MantBits(2),
    .HasInf  (1'b1),
    .AccWidth(70)
  ) u_e5m2_mac (
    .clk_i    (clk_i),
    .rst_ni   (rst_ni),
    .valid_i  (mac_valid_i),
    .first_i  (mac_first_i),
    .a_i      (mac_a_i),
    .b_i      (mac_b_i),
    .acc_o    (e5m2_acc_o),
    .ovf_o    (e5m2_ovf_o),
    .invalid_o(e5m2_mac_invalid_o)
  );
endmodule
