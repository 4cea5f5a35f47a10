// Requantization of an accumulator to the next layer's LBFP code (spec "Requantization"):
// code = encode(acc * 2^scale, Eo) with the exact log-domain rounding, in integers.
//
//   |acc| = 2^L * n, n in [1, 2)    (L: leading-one position)
//   round(l) = 2^F * (L + scale - Eo + 2^I) + r,   r = #{ j : n >= 2^((2j+1) / 2^(F+1)) }
//
// The normalised magnitude N = |acc| << (A-1-L) is compared with the 2^F boundary constants
// floor(2^((2j+1)/2^(F+1)) * 2^(A-1)); the boundaries are irrational, so N >= boundary exactly
// when N > its floor. The result saturates above 2^(W-1) - 1 and flushes to the all-zero code
// at or below 0. ReLU zeroes non-positive accumulators first. Combinational.
module lbfp_requant #(
  parameter int DataWidth = 8,   // W
  parameter int FracBits  = 4,   // F
  parameter int AccWidth  = 32,  // A, at most 64
  parameter int ExpWidth  = 12   // signed width of exp_shift_i
) (
  input  logic [AccWidth-1:0]  acc_i,        // signed
  input  logic [ExpWidth-1:0]  exp_shift_i,  // signed: scale - Eo (scale = Ea + Eb - 2*2^I - P)
  input  logic                 relu_i,
  output logic [DataWidth-1:0] code_o
);
  localparam int IntBits   = DataWidth - 1 - FracBits;  // I
  localparam int Bounds    = 1 << FracBits;
  localparam int LeadWidth = lbfp_pkg::index_width(AccWidth);
  // Wide enough for 2^F * (L + exp_shift + 2^I) + 2^F with any L < 64 and any exp_shift.
  localparam int LogWidth  = ((ExpWidth > 8) ? ExpWidth : 8) + FracBits + 2;
  localparam logic [LogWidth-1:0] MaxMag = LogWidth'((1 << (DataWidth - 1)) - 1);

  // The boundary constants, entry j at [j*AccWidth +: AccWidth].
  logic [Bounds*AccWidth-1:0] bounds;
  for (genvar j = 0; j < Bounds; j++) begin : gen_bounds
    localparam logic [63:0] Boundary = lbfp_pkg::requant_boundary(j, FracBits, AccWidth);
    assign bounds[j*AccWidth +: AccWidth] = Boundary[AccWidth-1:0];
  end

  logic                 neg, kill;
  logic [AccWidth-1:0]  mag, norm;
  logic [LeadWidth-1:0] lead;
  logic [FracBits:0]    rounds_up;  // r in [0, 2^F]
  logic [LogWidth-1:0]  log_code;   // signed round(l)

  always_comb begin
    neg  = acc_i[AccWidth-1];
    kill = (acc_i == '0) || (relu_i && neg);
    // |acc| fits A unsigned bits even for -2^(A-1).
    mag  = neg ? (~acc_i + 1'b1) : acc_i;

    lead = '0;
    for (int i = 0; i < AccWidth; i++) begin
      if (mag[i]) begin
        lead = LeadWidth'(i);
      end
    end
    norm = mag << (LeadWidth'(AccWidth - 1) - lead);

    rounds_up = '0;
    for (int j = 0; j < Bounds; j++) begin
      if (norm > bounds[j*AccWidth +: AccWidth]) begin
        rounds_up = rounds_up + 1'b1;
      end
    end

    log_code = ((LogWidth'(lead) + {{(LogWidth - ExpWidth){exp_shift_i[ExpWidth-1]}}, exp_shift_i}
                 + LogWidth'(1 << IntBits)) << FracBits) + LogWidth'(rounds_up);

    if (kill || $signed(log_code) <= 0) begin
      code_o = '0;
    end else if ($signed(log_code) > $signed(MaxMag)) begin
      code_o = {neg, {(DataWidth - 1){1'b1}}};
    end else begin
      code_o = {neg, log_code[DataWidth-2:0]};
    end
  end

`ifndef SYNTHESIS
  // The boundary constants come from lbfp_pkg's 64-bit table of 2^(k/128) (F <= 6, A <= 64).
  initial begin
    assert (DataWidth >= 2 && DataWidth <= 31)
      else $fatal(1, "lbfp_requant: DataWidth %0d outside 2..31", DataWidth);
    assert (FracBits >= 1 && FracBits <= 6 && IntBits >= 0)
      else $fatal(1, "lbfp_requant: FracBits %0d with DataWidth %0d", FracBits, DataWidth);
    assert (AccWidth >= 2 && AccWidth <= 64)
      else $fatal(1, "lbfp_requant: AccWidth %0d outside 2..64", AccWidth);
    assert (ExpWidth >= 1 && ExpWidth <= 32)
      else $fatal(1, "lbfp_requant: ExpWidth %0d outside 1..32", ExpWidth);
  end
`endif
endmodule
