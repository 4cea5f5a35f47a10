// An output-stationary LBFP processing element. Each cycle it takes one operand pair from its
// west (a) and north (b) neighbours, forwards both through registers (a east, b south, with the
// valid/first/last flags riding along with a), and accumulates a x b into its own output.
//
// Stages: the product (lbfp_product, combinational) passes PipeStages registers, then the
// saturating accumulator register. done_o is high for one cycle when acc_o holds the result of a
// reduction (the cycle after its last product was added). bfp_pe has the same ports.
//
// HoldZeros = 1 (default; needs PipeStages >= 1) moves the first of those registers in front of
// the multiplier: it registers the operand codes together with the product's zero flag, and on a
// zero product (or an idle cycle) it keeps the codes of the last non-zero product. The adder, LUT
// and shifter then see only non-zero products and hold still through runs of zeros, and the zero
// flag reaches the product's output gate from a register, at the same time as the codes: no
// combinational isolation racing its own zero detect (docs/hardware-cost.md). The register is
// 2W + 4 bits (20 for LBFP8) instead of the product's ProdWidth + 3 (28), and the timing is the
// same: PipeStages registers between the operands and the accumulator.
module lbfp_pe #(
  parameter int DataWidth  = 8,    // W
  parameter int FracBits   = 4,    // F
  parameter int LutBits    = 8,    // P
  parameter int AccWidth   = 32,   // A
  parameter int PipeStages = 1,    // registers between the operands and the accumulator
  parameter bit HoldZeros  = 1'b1  // hold the operands on zero products (PipeStages >= 1)
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
  localparam int LutWidth   = lbfp_pkg::lut_width(FracBits, LutBits);
  localparam int ShiftWidth = lbfp_pkg::shift_width(DataWidth, FracBits);
  localparam int MagWidth   = lbfp_pkg::product_width(DataWidth, FracBits, LutBits);
  localparam int ProdWidth  = MagWidth + 1;

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

  // ---- multiply: add, look up, shift; then PipeStages registers ----
  localparam bit Held = HoldZeros && PipeStages > 0;

  logic [DataWidth-1:0] mul_a, mul_b;  // the multiplier's operands
  logic                 mul_zero;      // Held: the registered zero flag
  logic [2:0]           mul_flags;     // valid, first, last of the multiplier's operands

  if (Held) begin : gen_hold
    operand_hold #(
      .DataWidth(DataWidth),
      .ZeroBits (DataWidth - 1)  // a zero magnitude, either sign
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
  end else begin : gen_isolate
    assign mul_a     = a_i;
    assign mul_b     = b_i;
    assign mul_zero  = 1'b0;  // unused: lbfp_mul isolates and detects on its own
    assign mul_flags = {valid_i, first_i, last_i};
  end

  logic [ProdWidth-1:0] prod;
  /* verilator lint_off UNUSEDSIGNAL */
  logic                  prod_neg, prod_zero;
  logic [LutWidth-1:0]   prod_lut;
  logic [ShiftWidth-1:0] prod_shift;
  logic [MagWidth-1:0]   prod_mag;
  /* verilator lint_on UNUSEDSIGNAL */

  lbfp_product #(
    .DataWidth (DataWidth),
    .FracBits  (FracBits),
    .LutBits   (LutBits),
    .ZeroFlagIn(Held)
  ) u_product (
    .a_i    (mul_a),
    .b_i    (mul_b),
    .zero_i (mul_zero),
    .neg_o  (prod_neg),
    .zero_o (prod_zero),
    .lut_o  (prod_lut),
    .shift_o(prod_shift),
    .mag_o  (prod_mag),
    .prod_o (prod)
  );

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
