// The saturating step of the spec's A-bit two's-complement accumulator ("Accumulation"), shared
// by the output-stationary accumulator (sat_accumulator) and the weight-stationary PE's adder of
// the partial sum from the north (pe_ws): base + prod, clamped to [-2^(A-1), 2^(A-1) - 1];
// sat_o is high when the exact sum fell outside (the caller ORs it into its sticky flag). The
// sum is formed one bit wider than both operands, so the clamp decision is made on the exact
// value even when a single product exceeds A bits. Combinational.
module sat_add #(
  parameter int AccWidth  = 32,  // A
  parameter int ProdWidth = 25   // signed product width
) (
  input  logic [AccWidth-1:0]  base_i,  // signed
  input  logic [ProdWidth-1:0] prod_i,  // signed
  output logic [AccWidth-1:0]  sum_o,   // signed, clamped
  output logic                 sat_o
);
  localparam int SumWidth = ((AccWidth > ProdWidth) ? AccWidth : ProdWidth) + 1;
  localparam logic [SumWidth-1:0] AccMax = SumWidth'({1'b0, {(AccWidth - 1){1'b1}}});
  localparam logic [SumWidth-1:0] AccMin = ~AccMax;

  logic [SumWidth-1:0] sum;

  always_comb begin
    sum = {{(SumWidth - AccWidth){base_i[AccWidth-1]}}, base_i}
        + {{(SumWidth - ProdWidth){prod_i[ProdWidth-1]}}, prod_i};
    if ($signed(sum) > $signed(AccMax)) begin
      sum_o = AccMax[AccWidth-1:0];
      sat_o = 1'b1;
    end else if ($signed(sum) < $signed(AccMin)) begin
      sum_o = AccMin[AccWidth-1:0];
      sat_o = 1'b1;
    end else begin
      sum_o = sum[AccWidth-1:0];
      sat_o = 1'b0;
    end
  end

`ifndef SYNTHESIS
  initial begin
    // A product may be wider than the accumulator (the sum is formed wide enough).
    assert (AccWidth >= 2 && ProdWidth >= 1)
      else $fatal(1, "sat_add: AccWidth %0d, ProdWidth %0d", AccWidth, ProdWidth);
  end
`endif
endmodule
