// The operand hold of a PE (lbfp_pe, bfp_pe with HoldZeros): the pipeline register in front of
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
  logic load;
  assign load = valid_i && a_i[ZeroBits-1:0] != '0 && b_i[ZeroBits-1:0] != '0;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      a_o     <= '0;
      b_o     <= '0;
      zero_o  <= 1'b1;
      flags_o <= '0;
    end else begin
      zero_o  <= !load;
      flags_o <= {valid_i, first_i, last_i};
      if (load) begin
        a_o <= a_i;
        b_o <= b_i;
      end
    end
  end
endmodule
