`include "lbfp_registers.svh"

// Depth registers in a row (Depth = 0: a wire). Used for the operand skew at the array's edges
// and for the pipeline stages between a PE's multiplier and its accumulator.
module delay_line #(
  parameter int Width = 8,
  parameter int unsigned Depth = 1
) (
  input  logic             clk_i,
  input  logic             rst_ni,
  input  logic [Width-1:0] data_i,
  output logic [Width-1:0] data_o
);
  if (Depth == 0) begin : gen_wire
    // Nothing to register; the clock and reset are deliberately unused.
    logic unused_clk;
    assign unused_clk = clk_i ^ rst_ni;
    assign data_o = data_i;
  end else begin : gen_regs
    // Stage s at [s*Width +: Width]; stage 0 is the newest.
    logic [Depth*Width-1:0] stage_d, stage_q;

    if (Depth == 1) begin : gen_one
      assign stage_d = data_i;
    end else begin : gen_many
      assign stage_d = {stage_q[(Depth-1)*Width-1:0], data_i};
    end

    `LBFP_FF(stage_q, stage_d, '0)

    assign data_o = stage_q[(Depth-1)*Width +: Width];
  end

`ifndef SYNTHESIS
  initial begin
    assert (Width >= 1) else $fatal(1, "delay_line: Width %0d < 1 (Depth %0d)", Width, Depth);
  end
`endif
endmodule
