// FP8 multiplier (spec section 13.4) for OFP8 E4M3 (ExpBits 4, MantBits 3, HasInf 0) and
// E5M2 (ExpBits 5, MantBits 2, HasInf 1): sign XOR, the (MantBits+1)-bit significand product
// Ma * Mb, the exponent sum ka + kb - 2 as a left shift, and the negation of a negative product.
// Each code is M * 2^(k - b) with M = m, k = 1 for a subnormal (e = 0) and M = 2^t + m, k = e
// otherwise, so prod_o is the exact product integer in units of the product LSB 2^L, the
// two's-complement value that the exact fixed-point accumulator (section 13.5) adds, sign-extended
// to its width. A zero significand gives 0, so a zero operand (0x00, 0x80) needs no detect.
//
// NaN codes (E4M3 0x7f/0xff; E5M2 e = all ones, m != 0) and the E5M2 infinities are no values
// (section 13.1): invalid_o flags them, and prod_o is then unspecified. The product width covers
// the largest product of valid codes only (E4M3: 196 << 28, E5M2: 49 << 58).
module fp8_mul #(
  parameter int ExpBits  = 4,     // E4M3: 4, E5M2: 5
  parameter int MantBits = 3,     // t; E4M3: 3, E5M2: 2
  parameter bit HasInf   = 1'b0,  // the top exponent holds Inf/NaN (E5M2), else only NaN at m = max
  // The largest exponent field of a value code, its shift 2 * (MaxK - 1), and the magnitude width.
  localparam int MaxK      = HasInf ? (1 << ExpBits) - 2 : (1 << ExpBits) - 1,
  localparam int ShiftBits = ExpBits + 1,
  localparam int SigWidth  = 2 * (MantBits + 1),
  localparam int MagWidth  = SigWidth + 2 * (MaxK - 1),
  localparam int ProdWidth = MagWidth + 1  // signed: E4M3 37, E5M2 65
) (
  input  logic [7:0]           a_i,
  input  logic [7:0]           b_i,
  output logic                 invalid_o,  // either operand is a NaN or infinity code
  output logic [ProdWidth-1:0] prod_o      // signed, units of 2^L
);
  logic [ExpBits-1:0]    exp_a, exp_b;
  logic [ExpBits-1:0]    k_a, k_b;       // k: the exponent field, 1 for a subnormal
  logic [MantBits-1:0]   man_a, man_b;
  logic [MantBits:0]     sig_a, sig_b;   // M: the hidden one unless subnormal
  logic [ShiftBits-1:0]  shift;          // ka + kb - 2 (k = 1 for a subnormal)
  logic [SigWidth-1:0]   sig_prod;
  logic [MagWidth-1:0]   mag;
  logic                  neg;
  logic                  nan_a, nan_b;   // NaN or infinity codes

  assign exp_a = a_i[6 -: ExpBits];
  assign exp_b = b_i[6 -: ExpBits];
  assign man_a = a_i[MantBits-1:0];
  assign man_b = b_i[MantBits-1:0];

  // A subnormal's k is 1: with e' = max(e, 1), ka + kb - 2 = e'a + e'b - 2.
  assign k_a   = (exp_a == '0) ? ExpBits'(1) : exp_a;
  assign k_b   = (exp_b == '0) ? ExpBits'(1) : exp_b;
  assign sig_a = {exp_a != '0, man_a};
  assign sig_b = {exp_b != '0, man_b};
  assign shift = ShiftBits'({1'b0, k_a} + {1'b0, k_b} - ShiftBits'(2));

  assign sig_prod = sig_a * sig_b;
  assign mag      = MagWidth'(sig_prod) << shift;
  assign neg      = a_i[7] ^ b_i[7];
  assign prod_o   = neg ? -{1'b0, mag} : {1'b0, mag};  // -0 is 0

  if (HasInf) begin : gen_ieee
    assign nan_a = exp_a == '1;
    assign nan_b = exp_b == '1;
  end else begin : gen_fn
    assign nan_a = exp_a == '1 && man_a == '1;
    assign nan_b = exp_b == '1 && man_b == '1;
  end
  assign invalid_o = nan_a || nan_b;

`ifndef SYNTHESIS
  initial begin
    assert (ExpBits >= 2 && MantBits >= 1 && ExpBits + MantBits == 7)
      else $fatal(1, "fp8_mul: ExpBits %0d + MantBits %0d != 7", ExpBits, MantBits);
  end
`endif
endmodule
