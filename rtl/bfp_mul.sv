// The fixed-point (BFP8) baseline multiplier: a W x W signed integer multiplier with a 2W-bit
// product (spec "The fixed-point baseline").
//
// IsolateZeros = 1 adds the same operand isolation as lbfp_mul: when either operand is zero both
// multiplier inputs are forced to zero, so the array holds still. The default (0) is the plain
// multiplier, whose array is already mostly quiet on a zero operand (every partial product is
// zero); docs/hardware-cost.md measures both. The product is the same either way.
module bfp_mul #(
  parameter int DataWidth    = 8,
  parameter bit IsolateZeros = 1'b0
) (
  input  logic [DataWidth-1:0]   a_i,
  input  logic [DataWidth-1:0]   b_i,
  output logic [2*DataWidth-1:0] prod_o  // signed
);
  logic [DataWidth-1:0] mul_a, mul_b;

  if (IsolateZeros) begin : gen_isolate
    // A zero operand is already all zeros: each side needs gating only by the other's detect.
    assign mul_a = (b_i == '0) ? '0 : a_i;
    assign mul_b = (a_i == '0) ? '0 : b_i;
  end else begin : gen_plain
    assign mul_a = a_i;
    assign mul_b = b_i;
  end

  assign prod_o = $signed(mul_a) * $signed(mul_b);

`ifndef SYNTHESIS
  initial begin
    assert (DataWidth >= 1) else $fatal(1, "bfp_mul: DataWidth %0d < 1", DataWidth);
  end
`endif
endmodule
