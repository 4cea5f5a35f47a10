`include "lbfp_registers.svh"

// A weight-stationary processing element, LBFP8 or (UseBfp) the BFP8 baseline (the multiplier is
// the only difference), for systolic_array_ws. The PE keeps one weight code still: a SHADOW
// register written by the preload (w_valid_i, w_i) and an ACTIVE one that the products use. The
// step that opens a fold (first_i) swaps the shadow into the active register and is itself
// multiplied with the shadow weight, so the next fold's weights can be preloaded while the
// current fold streams. Each cycle the PE takes a streamed code from its west neighbour
// (forwarded east through a register, with the valid/first/last flags riding along) and a partial
// sum with its sticky overflow flag from its north neighbour, and sends south, registered, that
// partial sum plus a x w through the saturating adder (sat_add: clamp and sticky flag, the
// accumulator's own step, so a column adds its products in k order exactly as the golden
// accumulator does).
//
// Stages: the product (lbfp_product, or bfp_mul's W x W signed multiplier) passes PipeStages
// registers, then the adder's result register. A code entering in cycle t leaves east in t + 1;
// its product meets the partial sum from the north in cycle t + PipeStages, and the sum leaves
// south in t + PipeStages + 1, which is when the PE below sees its own product of the same step.
//
// HoldZeros = 1 (default; needs PipeStages >= 1): the first product register is operand_hold in
// front of the multiplier, as in pe: on a zero product or an idle cycle it keeps the codes of
// the last non-zero product and raises a registered zero flag that gates the product.
module pe_ws #(
  parameter bit UseBfp       = 1'b0,  // 1: the BFP8 baseline multiplier (bfp_mul)
  parameter int DataWidth    = 8,     // W
  parameter int FracBits     = 4,     // F (LBFP only)
  parameter int LutBits      = 8,     // P (LBFP only)
  parameter int AccWidth     = 32,    // A
  parameter int PipeStages   = 1,     // registers between the operands and the adder
  parameter bit HoldZeros    = 1'b1,  // hold the operands on zero products (PipeStages >= 1)
  parameter bit IsolateZeros = 1'b0,  // bfp_mul's operand isolation (BFP only)
  localparam int ProdWidth = UseBfp ? 2 * DataWidth
                                    : lbfp_pkg::product_width(DataWidth, FracBits, LutBits) + 1
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 w_valid_i,    // write w_i into the shadow register
  input  logic [DataWidth-1:0] w_i,
  input  logic                 valid_i,
  input  logic                 first_i,      // the first step of a fold: take the shadow weight
  input  logic                 last_i,       // the last step of a fold
  input  logic [DataWidth-1:0] a_i,
  input  logic [AccWidth-1:0]  psum_i,       // signed partial sum from the north
  input  logic                 psum_ovf_i,   // its sticky overflow flag
  output logic                 valid_o,
  output logic                 first_o,
  output logic                 last_o,
  output logic [DataWidth-1:0] a_o,
  output logic [AccWidth-1:0]  psum_o,       // signed partial sum to the south
  output logic                 psum_ovf_o,
  output logic                 psum_valid_o, // psum_o holds a step's sum
  output logic                 psum_last_o   // ... the fold's last step
);
  // ---- operand forwarding (one PE per cycle) ----
  logic [DataWidth+2:0] fwd_d, fwd_q;
  assign fwd_d = {valid_i, first_i, last_i, a_i};
  `LBFP_FF(fwd_q, fwd_d, '0)
  assign {valid_o, first_o, last_o, a_o} = fwd_q;

  // ---- the stationary weight: shadow (preloaded) and active ----
  logic                 swap;
  logic [DataWidth-1:0] shadow_d, shadow_q, active_d, active_q, weight;
  always_comb begin
    swap     = valid_i && first_i;
    shadow_d = w_valid_i ? w_i : shadow_q;
    active_d = swap ? shadow_q : active_q;
    weight   = swap ? shadow_q : active_q;  // this step's weight
  end
  `LBFP_FF(shadow_q, shadow_d, '0)
  `LBFP_FF(active_q, active_d, '0)

  // ---- the operands of the multiplier: held or straight ----
  localparam bit Held = HoldZeros && PipeStages > 0;

  logic [DataWidth-1:0] mul_a, mul_b;  // the multiplier's operands
  logic                 mul_zero;      // Held: the registered zero flag (else 0)
  /* verilator lint_off UNUSEDSIGNAL */
  logic [2:0]           mul_flags;     // valid, first, last of the multiplier's operands
  /* verilator lint_on UNUSEDSIGNAL */

  if (Held) begin : gen_hold
    operand_hold #(
      .DataWidth(DataWidth),
      .ZeroBits (UseBfp ? DataWidth : DataWidth - 1)
    ) u_hold (
      .clk_i  (clk_i),
      .rst_ni (rst_ni),
      .valid_i(valid_i),
      .first_i(first_i),
      .last_i (last_i),
      .a_i    (a_i),
      .b_i    (weight),
      .a_o    (mul_a),
      .b_o    (mul_b),
      .zero_o (mul_zero),
      .flags_o(mul_flags)
    );
  end else begin : gen_straight
    assign mul_a     = a_i;
    assign mul_b     = weight;
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

  // ---- the remaining pipeline registers: product and flags {valid, last} ----
  logic [ProdWidth+1:0] stage_in, stage_out;
  logic                 add_valid, add_last;
  logic [ProdWidth-1:0] add_prod;
  assign stage_in = {mul_flags[2], mul_flags[0], prod};

  delay_line #(
    .Width(ProdWidth + 2),
    .Depth(Held ? PipeStages - 1 : PipeStages)
  ) u_pipe (
    .clk_i (clk_i),
    .rst_ni(rst_ni),
    .data_i(stage_in),
    .data_o(stage_out)
  );
  assign {add_valid, add_last, add_prod} = stage_out;

  // ---- add to the partial sum from the north, register, send south ----
  logic [AccWidth-1:0] sum;
  logic                sat;

  sat_add #(
    .AccWidth (AccWidth),
    .ProdWidth(ProdWidth)
  ) u_add (
    .base_i(psum_i),
    .prod_i(add_prod),
    .sum_o (sum),
    .sat_o (sat)
  );

  // The result registers hold still between steps (an idle cycle adds nothing).
  logic [AccWidth-1:0] psum_d, psum_q;
  logic                ovf_d, ovf_q;
  logic [1:0]          flags_d, flags_q;
  always_comb begin
    psum_d  = add_valid ? sum : psum_q;
    ovf_d   = add_valid ? psum_ovf_i || sat : ovf_q;
    flags_d = {add_valid, add_valid && add_last};
  end
  `LBFP_FF(psum_q, psum_d, '0)
  `LBFP_FF(ovf_q, ovf_d, 1'b0)
  `LBFP_FF(flags_q, flags_d, '0)

  assign psum_o     = psum_q;
  assign psum_ovf_o = ovf_q;
  assign {psum_valid_o, psum_last_o} = flags_q;

`ifndef SYNTHESIS
  initial begin
    assert (DataWidth >= 2) else $fatal(1, "pe_ws: DataWidth %0d < 2", DataWidth);
    assert (AccWidth >= 2) else $fatal(1, "pe_ws: AccWidth %0d < 2", AccWidth);
    assert (PipeStages >= 0) else $fatal(1, "pe_ws: PipeStages %0d < 0", PipeStages);
    assert (UseBfp || !IsolateZeros) else $fatal(1, "pe_ws: IsolateZeros is a BFP parameter");
  end

  // A fold opens with first_i and closes with last_i (both on a one-step fold); the flags count
  // only with valid_i.
  logic open_d, open_q;
  assign open_d = valid_i ? !last_i && (first_i || open_q) : open_q;
  `LBFP_FF(open_q, open_d, 1'b0)
  assert property (@(posedge clk_i) disable iff (!rst_ni) valid_i |-> first_i != open_q)
    else $error("pe_ws: first_i %0d while a fold is %0s", first_i, open_q ? "open" : "closed");
`endif
endmodule
