`include "lbfp_registers.svh"

// FP8 multiply-accumulate unit (spec sections 13.4 and 13.5), E4M3 or E5M2 (also the MXFP8
// elements): fp8_mul's exact product, two's complement in units of 2^L, into sat_accumulator,
// the A-bit saturating fixed-point accumulator with its sticky overflow flag (A = 42 for E4M3,
// 70 for E5M2: one MX block of 32 products exact whatever its codes). The same structure as the
// LBFP8 and BFP8 MACs of synth/rtl (lbfp_mac, bfp_mac): the multiplier feeds the accumulator
// directly, no pipeline register; a MAC without a bias, first_i restarts from zero.
//
// NaN and infinity codes are no values (section 13.1): a reduction that met one has no result.
// invalid_o, sticky like ovf_o, says so; acc_o is then unspecified. (The golden model stops with
// an error at such a code; the encoders never produce one.)
module fp8_mac #(
  parameter int ExpBits  = 4,     // E4M3: 4, E5M2: 5
  parameter int MantBits = 3,     // E4M3: 3, E5M2: 2
  parameter bit HasInf   = 1'b0,  // E5M2: 1
  parameter int AccWidth = 42,    // A; E4M3: 42, E5M2: 70 (section 13.5)
  localparam int MaxK      = HasInf ? (1 << ExpBits) - 2 : (1 << ExpBits) - 1,
  localparam int ProdWidth = 2 * (MantBits + 1) + 2 * (MaxK - 1) + 1  // fp8_mul's prod_o
) (
  input  logic                clk_i,
  input  logic                rst_ni,
  input  logic                valid_i,
  input  logic                first_i,  // first term of a reduction: restart from zero
  input  logic [7:0]          a_i,
  input  logic [7:0]          b_i,
  output logic [AccWidth-1:0] acc_o,    // signed, units of 2^L
  output logic                ovf_o,    // some step since the last first_i saturated
  output logic                invalid_o // some operand since the last first_i was NaN or Inf
);
  logic [ProdWidth-1:0] prod;
  logic                 prod_invalid;
  logic                 invalid_d, invalid_q;

  fp8_mul #(
    .ExpBits (ExpBits),
    .MantBits(MantBits),
    .HasInf  (HasInf)
  ) u_mul (
    .a_i      (a_i),
    .b_i      (b_i),
    .invalid_o(prod_invalid),
    .prod_o   (prod)
  );

  sat_accumulator #(
    .AccWidth (AccWidth),
    .ProdWidth(ProdWidth)
  ) u_acc (
    .clk_i     (clk_i),
    .rst_ni    (rst_ni),
    .valid_i   (valid_i),
    .first_i   (first_i),
    .init_i    ({AccWidth{1'b0}}),  // no bias: a reduction starts from zero
    .init_ovf_i(1'b0),
    .prod_i    (prod),
    .acc_o     (acc_o),
    .ovf_o     (ovf_o)
  );

  always_comb begin
    invalid_d = invalid_q;
    if (valid_i) invalid_d = prod_invalid || (!first_i && invalid_q);
  end
  `LBFP_FF(invalid_q, invalid_d, 1'b0)
  assign invalid_o = invalid_q;

`ifndef SYNTHESIS
  initial begin
    assert (AccWidth >= 2) else $fatal(1, "fp8_mac: AccWidth %0d < 2", AccWidth);
  end
`endif
endmodule
