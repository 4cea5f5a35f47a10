`include "lbfp_registers.svh"

// The A-bit two's-complement accumulator of the spec ("Accumulation"): each step adds one signed
// product; a step whose exact sum falls outside [-2^(A-1), 2^(A-1) - 1] is clamped to that limit
// and raises the sticky overflow flag. first_i starts a new reduction from init_i and init_ovf_i
// instead of the previous result and flag: a bias in accumulator units ("a bias enters first"; 0
// without one) with a clear flag, or the partial sum and flag of the reduction's earlier part
// (a K split), which the steps then continue exactly as if it had never stopped. The saturating
// step itself is sat_add (shared with the weight-stationary PE).
module sat_accumulator #(
  parameter int AccWidth  = 32,  // A
  parameter int ProdWidth = 25   // signed product width
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 valid_i,
  input  logic                 first_i,
  input  logic [AccWidth-1:0]  init_i,  // signed
  input  logic                 init_ovf_i,
  input  logic [ProdWidth-1:0] prod_i,  // signed
  output logic [AccWidth-1:0]  acc_o,   // signed
  output logic                 ovf_o    // some step since the last first_i saturated
);
  // acc_o and ovf_o are the registers themselves.
  logic [AccWidth-1:0] acc_d, base, sum;
  logic                ovf_d, sat;

  assign base = first_i ? init_i : acc_o;

  sat_add #(
    .AccWidth (AccWidth),
    .ProdWidth(ProdWidth)
  ) u_add (
    .base_i(base),
    .prod_i(prod_i),
    .sum_o (sum),
    .sat_o (sat)
  );

  always_comb begin
    acc_d = acc_o;
    ovf_d = ovf_o;
    if (valid_i) begin
      acc_d = sum;
      ovf_d = (first_i ? init_ovf_i : ovf_o) || sat;
    end
  end

  `LBFP_FF(acc_o, acc_d, '0)
  `LBFP_FF(ovf_o, ovf_d, 1'b0)

`ifndef SYNTHESIS
  initial begin
    assert (AccWidth >= 2 && ProdWidth >= 1)
      else $fatal(1, "sat_accumulator: AccWidth %0d, ProdWidth %0d", AccWidth, ProdWidth);
  end
`endif
endmodule
