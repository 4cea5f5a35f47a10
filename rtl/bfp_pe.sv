// The BFP8 baseline processing element: lbfp_pe with the multiplier swapped for bfp_mul (a W x W
// signed multiplier), with the same ports and the same timing, so that systolic_array can be built
// with either. Operands are forwarded east (a, with the valid/first/last flags) and south (b)
// through registers; the product passes PipeStages registers, then the saturating accumulator.
// done_o is high for one cycle when acc_o holds the result of a reduction.
module bfp_pe #(
  parameter int DataWidth    = 8,    // W
  parameter int AccWidth     = 32,   // A
  parameter int PipeStages   = 1,    // registers between the multiplier and the accumulator
  parameter bit IsolateZeros = 1'b0  // bfp_mul's operand isolation (docs/hardware-cost.md)
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 valid_i,
  input  logic                 first_i,  // first term of a reduction: restart from bias_i
  input  logic                 last_i,   // last term of a reduction
  input  logic [DataWidth-1:0] a_i,
  input  logic [DataWidth-1:0] b_i,
  input  logic [AccWidth-1:0]  bias_i,   // signed start value of a reduction, steady per tile
  output logic                 valid_o,
  output logic                 first_o,
  output logic                 last_o,
  output logic [DataWidth-1:0] a_o,
  output logic [DataWidth-1:0] b_o,
  output logic [AccWidth-1:0]  acc_o,
  output logic                 ovf_o,
  output logic                 done_o
);
  localparam int ProdWidth = 2 * DataWidth;

  // ---- operand forwarding (one PE per cycle) ----
  logic [2*DataWidth+2:0] fwd_d, fwd_q;
  assign fwd_d = {valid_i, first_i, last_i, a_i, b_i};
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      fwd_q <= '0;
    end else begin
      fwd_q <= fwd_d;
    end
  end
  assign {valid_o, first_o, last_o, a_o, b_o} = fwd_q;

  // ---- multiply ----
  logic [ProdWidth-1:0] prod;

  bfp_mul #(
    .DataWidth   (DataWidth),
    .IsolateZeros(IsolateZeros)
  ) u_mul (
    .a_i   (a_i),
    .b_i   (b_i),
    .prod_o(prod)
  );

  // ---- PipeStages registers: product and flags ----
  logic [ProdWidth+2:0] stage_in, stage_out;
  logic                 acc_valid, acc_first, acc_last;
  logic [ProdWidth-1:0] acc_prod;
  assign stage_in = {valid_i, first_i, last_i, prod};

  delay_line #(
    .Width(ProdWidth + 3),
    .Depth(PipeStages)
  ) u_pipe (
    .clk_i (clk_i),
    .rst_ni(rst_ni),
    .data_i(stage_in),
    .data_o(stage_out)
  );
  assign {acc_valid, acc_first, acc_last, acc_prod} = stage_out;

  // ---- accumulate ----
  sat_accumulator #(
    .AccWidth (AccWidth),
    .ProdWidth(ProdWidth)
  ) u_acc (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .valid_i(acc_valid),
    .first_i(acc_first),
    .init_i (bias_i),
    .prod_i (acc_prod),
    .acc_o  (acc_o),
    .ovf_o  (ovf_o)
  );

  logic done_d, done_q;
  assign done_d = acc_valid && acc_last;
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      done_q <= 1'b0;
    end else begin
      done_q <= done_d;
    end
  end
  assign done_o = done_q;
endmodule
