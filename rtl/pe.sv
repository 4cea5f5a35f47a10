`include "lbfp_registers.svh"

// An output-stationary processing element, LBFP8 or (UseBfp) the BFP8 baseline: the multiplier is
// the only difference. Each cycle it takes one operand pair from its west (a) and north (b)
// neighbours, forwards both through registers (a east, b south, with the valid/first/last flags
// riding along with a), and accumulates a x b into its own output.
//
// Stages: the product (combinational: lbfp_product, or bfp_mul's W x W signed multiplier) passes
// PipeStages registers, then the saturating accumulator register. done_o is high for one cycle
// when acc_o holds the result of a reduction (the cycle after its last product was added).
//
// HoldZeros = 1 (default; needs PipeStages >= 1) moves the first of those registers in front of
// the multiplier (operand_hold): it registers the operand codes together with the product's zero
// flag, and on a zero product (or an idle cycle) it keeps the codes of the last non-zero product.
// The multiplier then sees only non-zero products and holds still through runs of zeros, and the
// zero flag gates the product from a register, at the same time as the codes: no combinational
// isolation racing its own zero detect (docs/hardware-cost.md). For LBFP8 the register is 2W + 4
// bits (20) instead of the product's ProdWidth + 3 (28), and the timing is the same: PipeStages
// registers between the operands and the accumulator. HoldZeros = 0 is the textbook PE (LBFP8
// then isolates zero operands inside lbfp_mul; BFP8 isolates them only with IsolateZeros).
module pe #(
  parameter bit UseBfp       = 1'b0,  // 1: the BFP8 baseline multiplier (bfp_mul)
  parameter int DataWidth    = 8,     // W
  parameter int FracBits     = 4,     // F (LBFP only)
  parameter int LutBits      = 8,     // P (LBFP only)
  parameter int AccWidth     = 32,    // A
  parameter int PipeStages   = 1,     // registers between the operands and the accumulator
  parameter bit HoldZeros    = 1'b1,  // hold the operands on zero products (PipeStages >= 1)
  parameter bit IsolateZeros = 1'b0,  // bfp_mul's operand isolation (BFP only)
  localparam int ProdWidth = UseBfp ? 2 * DataWidth
                                    : lbfp_pkg::product_width(DataWidth, FracBits, LutBits) + 1
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 valid_i,
  input  logic                 first_i,  // first term of a reduction: restart from bias_i
  input  logic                 last_i,   // last term of a reduction
  input  logic [DataWidth-1:0] a_i,
  input  logic [DataWidth-1:0] b_i,
  input  logic [AccWidth-1:0]  bias_i,   // signed start value of a reduction (bias or partial sum)
  input  logic                 init_ovf_i,  // the start value's sticky overflow flag
  output logic                 valid_o,
  output logic                 first_o,
  output logic                 last_o,
  output logic [DataWidth-1:0] a_o,
  output logic [DataWidth-1:0] b_o,
  output logic [AccWidth-1:0]  acc_o,
  output logic                 ovf_o,
  output logic                 done_o
);
  // ---- operand forwarding (one PE per cycle) ----
  logic [2*DataWidth+2:0] fwd_d, fwd_q;
  assign fwd_d = {valid_i, first_i, last_i, a_i, b_i};
  `LBFP_FF(fwd_q, fwd_d, '0)
  assign {valid_o, first_o, last_o, a_o, b_o} = fwd_q;

  // ---- the operands of the multiplier: held or straight ----
  localparam bit Held = HoldZeros && PipeStages > 0;

  logic [DataWidth-1:0] mul_a, mul_b;  // the multiplier's operands
  logic                 mul_zero;      // Held: the registered zero flag (else 0)
  logic [2:0]           mul_flags;     // valid, first, last of the multiplier's operands

  if (Held) begin : gen_hold
    operand_hold #(
      .DataWidth(DataWidth),
      // A zero code: LBFP, a zero magnitude with either sign; BFP, all bits.
      .ZeroBits (UseBfp ? DataWidth : DataWidth - 1)
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
  end else begin : gen_straight
    assign mul_a     = a_i;
    assign mul_b     = b_i;
    assign mul_zero  = 1'b0;
    assign mul_flags = {valid_i, first_i, last_i};
  end

  // ---- multiply: the only difference between the formats ----
  logic [ProdWidth-1:0] prod;

  if (UseBfp) begin : gen_bfp
    logic [ProdWidth-1:0] mul_prod;
    bfp_mul #(
      .DataWidth   (DataWidth),
      .IsolateZeros(IsolateZeros)
    ) u_mul (
      .a_i   (mul_a),
      .b_i   (mul_b),
      .prod_o(mul_prod)
    );
    assign prod = mul_zero ? '0 : mul_prod;
  end else begin : gen_lbfp
    localparam int LutWidth   = lbfp_pkg::lut_width(FracBits, LutBits);
    localparam int ShiftWidth = lbfp_pkg::shift_width(DataWidth, FracBits);
    /* verilator lint_off UNUSEDSIGNAL */
    logic                  prod_neg, prod_zero;
    logic [LutWidth-1:0]   prod_lut;
    logic [ShiftWidth-1:0] prod_shift;
    logic [ProdWidth-2:0]  prod_mag;
    /* verilator lint_on UNUSEDSIGNAL */
    // Held: lbfp_product gates the shifted magnitude with the registered zero flag itself.
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
  end

  // ---- the remaining pipeline registers: product and flags ----
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
    .clk_i     (clk_i),
    .rst_ni    (rst_ni),
    .valid_i   (acc_valid),
    .first_i   (acc_first),
    .init_i    (bias_i),
    .init_ovf_i(init_ovf_i),
    .prod_i    (acc_prod),
    .acc_o     (acc_o),
    .ovf_o     (ovf_o)
  );

  logic done_d, done_q;
  assign done_d = acc_valid && acc_last;
  `LBFP_FF(done_q, done_d, 1'b0)
  assign done_o = done_q;

`ifndef SYNTHESIS
  initial begin
    assert (DataWidth >= 2) else $fatal(1, "pe: DataWidth %0d < 2", DataWidth);
    assert (AccWidth >= 2) else $fatal(1, "pe: AccWidth %0d < 2", AccWidth);
    assert (PipeStages >= 0) else $fatal(1, "pe: PipeStages %0d < 0", PipeStages);
    assert (UseBfp || !IsolateZeros) else $fatal(1, "pe: IsolateZeros is a BFP parameter");
  end

  // A reduction opens with first_i and closes with last_i (both on a one-term reduction); the
  // flags count only with valid_i.
  logic open_d, open_q;
  assign open_d = valid_i ? !last_i && (first_i || open_q) : open_q;
  `LBFP_FF(open_q, open_d, 1'b0)
  assert property (@(posedge clk_i) disable iff (!rst_ni) valid_i |-> first_i != open_q)
    else $error("pe: first_i %0d while a reduction is %0s", first_i, open_q ? "open" : "closed");
`endif
endmodule
