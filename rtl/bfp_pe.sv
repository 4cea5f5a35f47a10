// The BFP8 baseline processing element: lbfp_pe with the multiplier swapped for bfp_mul (a W x W
// signed multiplier), with the same ports and the same timing, so that systolic_array can be built
// with either. Operands are forwarded east (a, with the valid/first/last flags) and south (b)
// through registers; the product passes PipeStages registers, then the saturating accumulator.
// done_o is high for one cycle when acc_o holds the result of a reduction.
//
// HoldZeros = 1 (needs PipeStages >= 1) is lbfp_pe's operand hold on the BFP8 multiplier: the
// first register moves in front of the multiplier, keeps the last non-zero product's operands on
// a zero product or an idle cycle, and a registered zero flag gates the product. Default 0: the
// textbook baseline (systolic_array passes its own, default 1); docs/hardware-cost.md has both.
module bfp_pe #(
  parameter int DataWidth    = 8,    // W
  parameter int AccWidth     = 32,   // A
  parameter int PipeStages   = 1,    // registers between the operands and the accumulator
  parameter bit IsolateZeros = 1'b0, // bfp_mul's operand isolation (docs/hardware-cost.md)
  parameter bit HoldZeros    = 1'b0  // hold the operands on zero products (PipeStages >= 1)
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

  // ---- multiply; then PipeStages registers ----
  localparam bit Held = HoldZeros && PipeStages > 0;

  logic [DataWidth-1:0] mul_a, mul_b;  // the multiplier's operands
  logic [2:0]           mul_flags;     // valid, first, last of the multiplier's operands
  logic [ProdWidth-1:0] mul_prod, prod;

  bfp_mul #(
    .DataWidth   (DataWidth),
    .IsolateZeros(IsolateZeros)
  ) u_mul (
    .a_i   (mul_a),
    .b_i   (mul_b),
    .prod_o(mul_prod)
  );

  if (Held) begin : gen_hold
    logic mul_zero;
    operand_hold #(
      .DataWidth(DataWidth),
      .ZeroBits (DataWidth)  // a zero code
    ) u_hold (
      .clk_i  (clk_i),
      .rst_ni (rst_ni),
      .valid_i(valid_i),
      .first_i(first_i),
      .last_i (last_i),
      .a_i    (a_i),
      .b_i    (b_i),
      .a_o    (mul_a),
      .b_o    (mul_b),
      .zero_o (mul_zero),
      .flags_o(mul_flags)
    );
    assign prod = mul_zero ? '0 : mul_prod;
  end else begin : gen_plain
    assign mul_a     = a_i;
    assign mul_b     = b_i;
    assign mul_flags = {valid_i, first_i, last_i};
    assign prod      = mul_prod;
  end

  // The remaining registers: product and flags.
  logic [ProdWidth+2:0] stage_in, stage_out;
  logic                 acc_valid, acc_first, acc_last;
  logic [ProdWidth-1:0] acc_prod;
  assign stage_in = {mul_flags, prod};

  delay_line #(
    .Width(ProdWidth + 3),
    .Depth(Held ? PipeStages - 1 : PipeStages)
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
