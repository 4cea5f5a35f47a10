// Synthesis-only top: one LBFP8 multiply-accumulate unit, lbfp_product (multiplier, shifter and
// the two's-complement sign) feeding sat_accumulator directly (no pipeline register, unlike the
// PE), so that it differs from bfp_mac only in the multiplier and the product width. A MAC
// without a bias: first_i restarts the accumulator from zero (the PE's bias_i is counted in the
// PE).
module lbfp_mac #(
  parameter int DataWidth = 8,
  parameter int FracBits  = 4,
  parameter int LutBits   = 8,
  parameter int AccWidth  = 32,
  localparam int LutWidth   = lbfp_pkg::lut_width(FracBits, LutBits),
  localparam int ShiftWidth = lbfp_pkg::shift_width(DataWidth, FracBits),
  localparam int MagWidth   = lbfp_pkg::product_width(DataWidth, FracBits, LutBits),
  localparam int ProdWidth  = MagWidth + 1
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 valid_i,
  input  logic                 first_i,
  input  logic [DataWidth-1:0] a_i,
  input  logic [DataWidth-1:0] b_i,
  output logic [AccWidth-1:0]  acc_o,
  output logic                 ovf_o
);
  logic [ProdWidth-1:0] prod;
  /* verilator lint_off UNUSEDSIGNAL */
  logic                  prod_neg, prod_zero;
  logic [LutWidth-1:0]   prod_lut;
  logic [ShiftWidth-1:0] prod_shift;
  logic [MagWidth-1:0]   prod_mag;
  /* verilator lint_on UNUSEDSIGNAL */

  lbfp_product #(
    .DataWidth(DataWidth),
    .FracBits (FracBits),
    .LutBits  (LutBits)
  ) u_product (
    .a_i    (a_i),
    .b_i    (b_i),
    .zero_i (1'b0),
    .neg_o  (prod_neg),
    .zero_o (prod_zero),
    .lut_o  (prod_lut),
    .shift_o(prod_shift),
    .mag_o  (prod_mag),
    .prod_o (prod)
  );

  sat_accumulator #(
    .AccWidth (AccWidth),
    .ProdWidth(ProdWidth)
  ) u_acc (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .valid_i(valid_i),
    .first_i(first_i),
    .init_i ({AccWidth{1'b0}}),  // no bias: a reduction starts from zero
    .init_ovf_i(1'b0),
    .prod_i (prod),
    .acc_o  (acc_o),
    .ovf_o  (ovf_o)
  );
endmodule
