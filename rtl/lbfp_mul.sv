// LBFP multiplier front end (spec "Multiplication: add, look up, shift", steps 1-4): sign XOR,
// zero detect, the W-bit code adder t = ma + mb, and the 2^F-entry antilog LUT indexed by
// f = t mod 2^F. The shift q = t >> F is handed to lbfp_shifter; no multiplier array anywhere.
//
// Operand isolation: a zero product needs neither the sum nor the LUT, so when either magnitude
// code is zero both adder inputs are forced to zero. The adder, the LUT decoder and (through
// lut_o and shift_o) the shifter then hold still on zero operands, about half the activations
// after a ReLU, instead of switching on the other, non-zero operand. The outputs are unchanged:
// lut_o and shift_o are 0 for a zero product.
//
// ZeroFlagIn = 1 is the front end of a PE that holds its operands (pe HoldZeros): the
// caller registers the zero flag with the operands and, on a zero product, keeps the codes of the
// last non-zero one, so nothing here moves. zero_i is then the product's zero flag; no detect and
// no isolation are built, and lut_o and shift_o are those of the held codes: the caller must zero
// the shifted product itself (lbfp_product does). With ZeroFlagIn = 0, zero_i is unused.
module lbfp_mul #(
  parameter int DataWidth  = 8,     // W
  parameter int FracBits   = 4,     // F, 1..6
  parameter int LutBits    = 8,     // P
  parameter bit ZeroFlagIn = 1'b0,  // zero_i is the zero flag; operands are held, not isolated
  localparam int LutWidth   = lbfp_pkg::lut_width(FracBits, LutBits),
  localparam int ShiftWidth = lbfp_pkg::shift_width(DataWidth, FracBits)
) (
  input  logic [DataWidth-1:0]  a_i,
  input  logic [DataWidth-1:0]  b_i,
  input  logic                  zero_i,   // ZeroFlagIn: the product is zero
  output logic                  neg_o,    // sign of the product (0 for a zero product)
  output logic                  zero_o,   // either magnitude code is 0 (ZeroFlagIn: zero_i)
  output logic [LutWidth-1:0]   lut_o,    // LUT[f], 0 for a zero product unless ZeroFlagIn
  output logic [ShiftWidth-1:0] shift_o   // q, 0 for a zero product unless ZeroFlagIn
);
  localparam int MagWidth = DataWidth - 1;
  localparam int LutEntries = 1 << FracBits;

  // The LUT as one flat constant vector, entry f at [f*LutWidth +: LutWidth].
  logic [LutEntries*LutWidth-1:0] lut_rom;
  for (genvar f = 0; f < LutEntries; f++) begin : gen_lut
    localparam logic [31:0] Entry = lbfp_pkg::lut_value(f, FracBits, LutBits);
    assign lut_rom[f*LutWidth +: LutWidth] = Entry[LutWidth-1:0];
  end

  logic [MagWidth-1:0]  mag_a, mag_b;  // adder inputs
  logic [DataWidth-1:0] code_sum;      // t = ma + mb <= 2^W - 2: never overflows W bits
  logic [FracBits-1:0]  lut_idx;

  if (ZeroFlagIn) begin : gen_held
    // Held operands: the adder, the LUT and the shifter see only non-zero products' codes.
    assign zero_o = zero_i;
    assign mag_a  = a_i[MagWidth-1:0];
    assign mag_b  = b_i[MagWidth-1:0];
  end else begin : gen_isolate
    logic zero_a, zero_b;
    logic unused_zero_i;
    assign unused_zero_i = zero_i;
    assign zero_a = a_i[MagWidth-1:0] == '0;
    assign zero_b = b_i[MagWidth-1:0] == '0;
    assign zero_o = zero_a || zero_b;
    // A zero code is already all zeros: each side needs gating only by the other side's detect.
    assign mag_a  = zero_b ? '0 : a_i[MagWidth-1:0];
    assign mag_b  = zero_a ? '0 : b_i[MagWidth-1:0];
  end

  assign code_sum = {1'b0, mag_a} + {1'b0, mag_b};  // 0 for an isolated zero product
  assign lut_idx  = code_sum[FracBits-1:0];

  assign neg_o   = !zero_o && (a_i[DataWidth-1] ^ b_i[DataWidth-1]);
  if (ZeroFlagIn) begin : gen_held_lut
    // Every entry's top bit is the constant leading one; the caller zeroes the product.
    assign lut_o = {1'b1, lut_rom[lut_idx*LutWidth +: LutWidth-1]};
  end else begin : gen_isolate_lut
    // Every entry lies in [2^P, 2^(P+1)): its top bit is the constant leading one, and LUT[0] = 2^P
    // has no other bit set. A zero product reaches the LUT as t = 0, so only the leading one needs
    // the zero gate; the fraction bits of LUT[0] are 0 already, and so is the shift. Gating just
    // that bit saves P gates whose outputs would switch with every non-zero product.
    assign lut_o = {!zero_o, lut_rom[lut_idx*LutWidth +: LutWidth-1]};
  end
  assign shift_o = code_sum[DataWidth-1:FracBits];

`ifndef SYNTHESIS
  // lbfp_pkg's exact table serves F <= 6; LUT entries are 32-bit constants (P + 1 <= 32).
  initial begin
    assert (FracBits >= 1 && FracBits <= 6 && FracBits < DataWidth)
      else $fatal(1, "lbfp_mul: FracBits %0d outside 1..min(6, DataWidth - 1)", FracBits);
    assert (LutBits >= 1 && LutBits <= 31) else $fatal(1, "lbfp_mul: LutBits %0d", LutBits);
  end
`endif
endmodule
