// The one flip-flop of the design (in the style of pulp common_cells' registers.svh): q takes d
// at the rising edge of clk_i and reset_value while rst_ni is low (asynchronous, active low).
// Every register is written as `LBFP_FF(foo_q, foo_d, reset), foo_d coming from combinational
// logic, so that sequential blocks hold nothing but the reset and q <= d.
`ifndef LBFP_REGISTERS_SVH
`define LBFP_REGISTERS_SVH

`define LBFP_FF(q, d, reset_value)              \
  always_ff @(posedge clk_i or negedge rst_ni) begin \
    if (!rst_ni) begin                           \
      q <= reset_value;                          \
    end else begin                               \
      q <= d;                                    \
    end                                          \
  end

`endif
