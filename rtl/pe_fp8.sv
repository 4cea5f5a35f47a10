`include "lbfp_registers.svh"

// The output-stationary processing element of FP8 E4M3 and E5M2, also MXFP8's (spec section 13):
// rtl/pe.sv with fp8_mul's exact product and the accumulator width of section 13.5 (A = 42 for
// E4M3, 70 for E5M2). The INT8 / MXINT8 PE is pe.sv itself with UseBfp = 1 (bfp_mul, A = 32).
//
// The same interface and timing as pe.sv: each cycle it takes one operand pair from its west (a)
// and north (b) neighbours and forwards both through registers, with the valid/first/last flags
// riding along with a; the product passes PipeStages registers (the first of them the operand
// hold with HoldZeros) into sat_accumulator, which restarts from bias_i and init_ovf_i on first_i
// and saturates with its sticky overflow flag; done_o is high for one cycle when acc_o holds the
// result of a reduction. It is built from pe.sv's blocks (operand_hold, delay_line,
// sat_accumulator) and fp8_mac's multiplier rather than as a parameter of pe.sv: any change to
// pe.sv's ports moves Yosys/ABC's mapping of the LBFP8 and BFP8 PEs, whose figures
// docs/hardware-cost.md gives.
//
// One addition: NaN and infinity codes are no values (section 13.1), and invalid_o, sticky per
// reduction like fp8_mac's, says that the reduction met one (acc_o is then unspecified). With
// the hold, the codes are checked as they enter it (a NaN times zero is held as a zero product)
// and the flag is registered with them.
module pe_fp8 #(
  parameter int ExpBits    = 4,     // E4M3: 4, E5M2: 5
  parameter int MantBits   = 3,     // E4M3: 3, E5M2: 2
  parameter bit HasInf     = 1'b0,  // E5M2: 1
  parameter int AccWidth   = 42,    // A; E4M3: 42, E5M2: 70 (section 13.5)
  parameter int PipeStages = 1,     // registers between the operands and the accumulator
  parameter bit HoldZeros  = 1'b1,  // hold the operands on zero products (PipeStages >= 1)
  localparam int MaxK      = HasInf ? (1 << ExpBits) - 2 : (1 << ExpBits) - 1,
  localparam int ProdWidth = 2 * (MantBits + 1) + 2 * (MaxK - 1) + 1  // fp8_mul's prod_o
) (
  input  logic                clk_i,
  input  logic                rst_ni,
  input  logic                valid_i,
  input  logic                first_i,     // first term of a reduction: restart from bias_i
  input  logic                last_i,      // last term of a reduction
  input  logic [7:0]          a_i,
  input  logic [7:0]          b_i,
  input  logic [AccWidth-1:0] bias_i,      // signed start value (bias or partial sum), 2^L units
  input  logic                init_ovf_i,  // the start value's sticky overflow flag
  output logic                valid_o,
  output logic                first_o,
  output logic                last_o,
  output logic [7:0]          a_o,
  output logic [7:0]          b_o,
  output logic [AccWidth-1:0] acc_o,
  output logic                ovf_o,
  output logic                invalid_o,   // some code since the last first_i was NaN or Inf
  output logic                done_o
);
  // ---- operand forwarding (one PE per cycle) ----
  logic [18:0] fwd_d, fwd_q;
  assign fwd_d = {valid_i, first_i, last_i, a_i, b_i};
  `LBFP_FF(fwd_q, fwd_d, '0)
  assign {valid_o, first_o, last_o, a_o, b_o} = fwd_q;

  // ---- the operands of the multiplier: held or straight ----
  localparam bit Held = HoldZeros && PipeStages > 0;

  logic [7:0] mul_a, mul_b;  // the multiplier's operands
  logic       mul_zero;      // Held: the registered zero flag (else 0)
  logic [2:0] mul_flags;     // valid, first, last of the multiplier's operands
  logic       mul_invalid;   // NaN or infinity among this cycle's operands

  logic [ProdWidth-1:0] mul_prod;
  logic                 prod_invalid;
  fp8_mul #(
    .ExpBits (ExpBits),
    .MantBits(MantBits),
    .HasInf  (HasInf)
  ) u_mul (
    .a_i      (mul_a),
    .b_i      (mul_b),
    .invalid_o(prod_invalid),
    .prod_o   (mul_prod)
  );

  if (Held) begin : gen_hold
    operand_hold #(
      .DataWidth(8),
      .ZeroBits (7)  // a zero code: a zero magnitude with either sign
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
    // The hold passes a NaN times zero on as a zero product with the last non-zero codes: the
    // codes are checked on the way in (fp8_mul's check; Yosys drops its unused product).
    /* verilator lint_off UNUSEDSIGNAL */
    logic [ProdWidth-1:0] check_prod;
    logic                 held_prod_invalid;
    /* verilator lint_on UNUSEDSIGNAL */
    logic                 in_invalid;
    fp8_mul #(
      .ExpBits (ExpBits),
      .MantBits(MantBits),
      .HasInf  (HasInf)
    ) u_check (
      .a_i      (a_i),
      .b_i      (b_i),
      .invalid_o(in_invalid),
      .prod_o   (check_prod)
    );
    `LBFP_FF(mul_invalid, in_invalid, 1'b0)
    assign held_prod_invalid = prod_invalid;
  end else begin : gen_straight
    assign mul_a       = a_i;
    assign mul_b       = b_i;
    assign mul_zero    = 1'b0;
    assign mul_flags   = {valid_i, first_i, last_i};
    assign mul_invalid = prod_invalid;
  end

  logic [ProdWidth-1:0] prod;
  assign prod = mul_zero ? '0 : mul_prod;

  // ---- the remaining pipeline registers: product, flags and the invalid flag ----
  logic [ProdWidth+3:0] stage_in, stage_out;
  logic                 acc_valid, acc_first, acc_last, acc_invalid;
  logic [ProdWidth-1:0] acc_prod;
  assign stage_in = {mul_invalid, mul_flags, prod};

  delay_line #(
    .Width(ProdWidth + 4),
    .Depth(Held ? PipeStages - 1 : PipeStages)
  ) u_pipe (
    .clk_i (clk_i),
    .rst_ni(rst_ni),
    .data_i(stage_in),
    .data_o(stage_out)
  );
  assign {acc_invalid, acc_valid, acc_first, acc_last, acc_prod} = stage_out;

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

  // The sticky NaN / infinity flag, as fp8_mac's: a reduction starts with it clear.
  logic invalid_d;
  always_comb begin
    invalid_d = invalid_o;
    if (acc_valid) invalid_d = acc_invalid || (!acc_first && invalid_o);
  end
  `LBFP_FF(invalid_o, invalid_d, 1'b0)

  logic done_d, done_q;
  assign done_d = acc_valid && acc_last;
  `LBFP_FF(done_q, done_d, 1'b0)
  assign done_o = done_q;

`ifndef SYNTHESIS
  initial begin
    assert (ExpBits >= 2 && MantBits >= 1 && ExpBits + MantBits == 7)
      else $fatal(1, "pe_fp8: ExpBits %0d + MantBits %0d != 7", ExpBits, MantBits);
    assert (AccWidth >= 2) else $fatal(1, "pe_fp8: AccWidth %0d < 2", AccWidth);
    assert (PipeStages >= 0) else $fatal(1, "pe_fp8: PipeStages %0d < 0", PipeStages);
  end

  // A reduction opens with first_i and closes with last_i (both on a one-term reduction); the
  // flags count only with valid_i.
  logic open_d, open_q;
  assign open_d = valid_i ? !last_i && (first_i || open_q) : open_q;
  `LBFP_FF(open_q, open_d, 1'b0)
  assert property (@(posedge clk_i) disable iff (!rst_ni) valid_i |-> first_i != open_q)
    else $error("pe_fp8: first_i %0d while a reduction is %0s", first_i,
                open_q ? "open" : "closed");
`endif
endmodule
