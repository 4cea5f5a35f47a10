`include "lbfp_registers.svh"

// The A-bit two's-complement accumulator of the spec ("Accumulation"): each step adds one signed
// product; a step whose exact sum falls outside [-2^(A-1), 2^(A-1) - 1] is clamped to that limit
// and raises the sticky overflow flag. first_i starts a new reduction from init_i and init_ovf_i
// instead of the previous result and flag: a bias in accumulator units ("a bias enters first"; 0
// without one) with a clear flag, or the partial sum and flag of the reduction's earlier part
// (a K split), which the steps then continue exactly as if it had never stopped. The sum is formed
// one bit wider than both operands, so the clamp decision is made on the exact value even when a
// single product exceeds A bits. The weight-stationary PE's step is sat_add, the same clamp
// without the register: sat_accumulator keeps its own copy so that the netlists that
// docs/hardware-cost.md measures stay the ones its tables come from (tb/rtl checks the two
// against the golden accumulator).
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
  localparam int SumWidth = ((AccWidth > ProdWidth) ? AccWidth : ProdWidth) + 1;
  localparam logic [SumWidth-1:0] AccMax = SumWidth'({1'b0, {(AccWidth - 1){1'b1}}});
  localparam logic [SumWidth-1:0] AccMin = ~AccMax;

  // acc_o and ovf_o are the registers themselves.
  logic [AccWidth-1:0] acc_d;
  logic                ovf_d;
  logic [SumWidth-1:0] base, sum;

  always_comb begin
    base  = first_i ? {{(SumWidth - AccWidth){init_i[AccWidth-1]}}, init_i}
                    : {{(SumWidth - AccWidth){acc_o[AccWidth-1]}}, acc_o};
    sum   = base + {{(SumWidth - ProdWidth){prod_i[ProdWidth-1]}}, prod_i};
    acc_d = acc_o;
    ovf_d = ovf_o;
    if (valid_i) begin
      ovf_d = first_i ? init_ovf_i : ovf_o;
      if ($signed(sum) > $signed(AccMax)) begin
        acc_d = AccMax[AccWidth-1:0];
        ovf_d = 1'b1;
      end else if ($signed(sum) < $signed(AccMin)) begin
        acc_d = AccMin[AccWidth-1:0];
        ovf_d = 1'b1;
      end else begin
        acc_d = sum[AccWidth-1:0];
      end
    end
  end

  `LBFP_FF(acc_o, acc_d, '0)
  `LBFP_FF(ovf_o, ovf_d, 1'b0)

`ifndef SYNTHESIS
  initial begin
    // A product may be wider than the accumulator (the sum is formed wide enough).
    assert (AccWidth >= 2 && ProdWidth >= 1)
      else $fatal(1, "sat_accumulator: AccWidth %0d, ProdWidth %0d", AccWidth, ProdWidth);
  end
`endif
endmodule
