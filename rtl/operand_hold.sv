`include "lbfp_registers.svh"

// The operand hold of a PE (pe with HoldZeros): the pipeline register in front of
// the multiplier. A valid operation whose product is not zero loads its two codes; any other (a
// zero product, or valid_i low) keeps the codes of the last one that loaded, and raises the
// registered zero flag instead, which the multiplier's output gate uses. So the multiplier sees
// only non-zero products and holds still through a run of zeros, and the zero flag comes from a
// flip-flop together with the codes. The flags valid/first/last are registered alongside.
// ZeroBits: the low bits of a code that are all 0 for a zero operand (LBFP: the W-1 magnitude
// bits, the sign of a zero being either; BFP: all W bits).
module operand_hold #(
  parameter int DataWidth = 8,
  parameter int ZeroBits  = 7
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 valid_i,
  input  logic                 first_i,
  input  logic                 last_i,
  input  logic [DataWidth-1:0] a_i,
  input  logic [DataWidth-1:0] b_i,
  output logic [DataWidth-1:0] a_o,     // the held codes (0 after reset)
  output logic [DataWidth-1:0] b_o,
  output logic                 zero_o,  // the product of this cycle is zero
  output logic [2:0]           flags_o  // valid, first, last of this cycle
);
  // The outputs are the registers themselves.
  logic                 load;
  logic [DataWidth-1:0] a_d, b_d;
  logic                 zero_d;
  logic [2:0]           flags_d;

  always_comb begin
    load    = valid_i && a_i[ZeroBits-1:0] != '0 && b_i[ZeroBits-1:0] != '0;
    a_d     = load ? a_i : a_o;
    b_d     = load ? b_i : b_o;
    zero_d  = !load;
    flags_d = {valid_i, first_i, last_i};
  end

  `LBFP_FF(a_o, a_d, '0)
  `LBFP_FF(b_o, b_d, '0)
  `LBFP_FF(zero_o, zero_d, 1'b1)
  `LBFP_FF(flags_o, flags_d, '0)

`ifndef SYNTHESIS
  initial begin
    assert (DataWidth >= 1) else $fatal(1, "operand_hold: DataWidth %0d < 1", DataWidth);
    assert (ZeroBits >= 1 && ZeroBits <= DataWidth)
      else $fatal(1, "operand_hold: ZeroBits %0d outside 1..%0d", ZeroBits, DataWidth);
  end
`endif
endmodule
