`include "lbfp_registers.svh"

// An R x C output-stationary systolic array of LBFP (or, with UseBfp, BFP8 baseline) PEs with
// requantizers at its output. See docs/microarchitecture.md for the block diagram and timing.
//
// Protocol (one tile at a time): while in_ready_o is high, the host presents one reduction step k
// per cycle: a_i holds A[r][k] for every row r, b_i holds B[k][c] for every column c; in_first_i
// marks k = 0 and in_last_i marks k = K-1 (both for K = 1). Row r's operands are delayed r
// cycles and column c's c cycles at the edges (the skew), so A[r][k] and B[k][c] meet in PE(r,c)
// at cycle k + r + c. When the last PE finishes, the results drain south one row per cycle,
// bottom row first: out_valid_o is high for R cycles, out_row_o names the row, out_acc_o the C
// accumulators, out_ovf_o their saturation flags and out_code_o their requantized codes.
// bias_i (per column, in accumulator units: the reduction starts from it), relu_i and exp_shift_i
// (per column: scale - Eo, where the scale carries the column's weight exponent) must be steady
// from the first operand until the results have drained.
// With contiguous input, the last result leaves K + 2R + C + PipeStages cycles after the first
// operand enters, counting both cycles (lbfp::arch::array_tile_cycles).
module systolic_array #(
  parameter int NumRows    = 4,
  parameter int NumCols    = 4,
  parameter int DataWidth  = 8,     // W
  parameter int FracBits   = 4,     // F (LBFP only)
  parameter int LutBits    = 8,     // P (LBFP only)
  parameter int AccWidth   = 32,    // A
  parameter int PipeStages = 1,     // registers between operands and accumulator in each PE
  parameter bit HoldZeros  = 1'b1,  // PEs hold their operands on zero products (PipeStages >= 1)
  parameter int UseBfp     = 0,     // 1: BFP8 baseline PEs, no requantizer (out_code_o = 0)
  parameter int ExpWidth   = 12,
  localparam int RowIdxWidth = lbfp_pkg::index_width(NumRows)
) (
  input  logic                          clk_i,
  input  logic                          rst_ni,
  input  logic                          in_valid_i,
  input  logic                          in_first_i,
  input  logic                          in_last_i,
  output logic                          in_ready_o,
  input  logic [NumRows*DataWidth-1:0]  a_i,   // row r at [r*DataWidth +: DataWidth]
  input  logic [NumCols*DataWidth-1:0]  b_i,   // column c at [c*DataWidth +: DataWidth]
  input  logic [NumCols*AccWidth-1:0]   bias_i,  // per column, accumulator units, signed
  input  logic                          relu_i,
  input  logic [NumCols*ExpWidth-1:0]   exp_shift_i,  // per column: scale - Eo
  output logic                          out_valid_o,
  output logic [RowIdxWidth-1:0]        out_row_o,
  output logic [NumCols*AccWidth-1:0]   out_acc_o,   // column c at [c*AccWidth +: AccWidth]
  output logic [NumCols-1:0]            out_ovf_o,
  output logic [NumCols*DataWidth-1:0]  out_code_o
);
  localparam int W = DataWidth;
  localparam int HStride = NumCols + 1;  // horizontal links per row (the last one is unused)

  logic accept;
  assign accept = in_valid_i && in_ready_o;

  // ---- links between PEs ----
  // a and flags {valid, first, last} of row r entering column c: index r*HStride + c.
  // b of column c entering row r: index r*NumCols + c.
  /* verilator lint_off UNUSEDSIGNAL */
  logic [NumRows*HStride*W-1:0]   h_a;
  logic [NumRows*HStride*3-1:0]   h_flags;
  logic [(NumRows+1)*NumCols*W-1:0] v_b;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [NumRows*NumCols*AccWidth-1:0] pe_acc;
  logic [NumRows*NumCols-1:0]          pe_ovf, pe_done;

  // ---- skew at the edges ----
  for (genvar r = 0; r < NumRows; r++) begin : gen_west
    delay_line #(
      .Width(W + 3),
      .Depth(r)
    ) u_skew (
      .clk_i (clk_i),
      .rst_ni(rst_ni),
      .data_i({accept, in_first_i, in_last_i, a_i[r*W +: W]}),
      .data_o({h_flags[r*HStride*3 +: 3], h_a[r*HStride*W +: W]})
    );
  end
  for (genvar c = 0; c < NumCols; c++) begin : gen_north
    delay_line #(
      .Width(W),
      .Depth(c)
    ) u_skew (
      .clk_i (clk_i),
      .rst_ni(rst_ni),
      .data_i(b_i[c*W +: W]),
      .data_o(v_b[c*W +: W])
    );
  end

  // ---- the PE grid ----
  for (genvar r = 0; r < NumRows; r++) begin : gen_row
    for (genvar c = 0; c < NumCols; c++) begin : gen_col
      localparam int Hin  = r * HStride + c;
      localparam int Hout = Hin + 1;
      localparam int Vin  = r * NumCols + c;
      localparam int Vout = Vin + NumCols;
      localparam int Pe   = r * NumCols + c;
      pe #(
        .UseBfp    (UseBfp != 0),
        .DataWidth (W),
        .FracBits  (FracBits),
        .LutBits   (LutBits),
        .AccWidth  (AccWidth),
        .PipeStages(PipeStages),
        .HoldZeros (HoldZeros)
      ) u_pe (
        .clk_i  (clk_i),
        .rst_ni (rst_ni),
        .valid_i(h_flags[Hin*3 + 2]),
        .first_i(h_flags[Hin*3 + 1]),
        .last_i (h_flags[Hin*3]),
        .a_i    (h_a[Hin*W +: W]),
        .b_i    (v_b[Vin*W +: W]),
        .bias_i (bias_i[c*AccWidth +: AccWidth]),
        .acc_o  (pe_acc[Pe*AccWidth +: AccWidth]),
        .ovf_o  (pe_ovf[Pe]),
        .done_o (pe_done[Pe]),
        .valid_o(h_flags[Hout*3 + 2]),
        .first_o(h_flags[Hout*3 + 1]),
        .last_o (h_flags[Hout*3]),
        .a_o    (h_a[Hout*W +: W]),
        .b_o    (v_b[Vout*W +: W])
      );
    end
  end

  // ---- result registers and the drain ----
  // Each PE copies its finished accumulator into res_q; once the last PE (R-1, C-1) is done, the
  // results shift south one row per cycle for R cycles.
  logic [NumRows*NumCols*AccWidth-1:0] res_d, res_q;
  logic [NumRows*NumCols-1:0]          res_ovf_d, res_ovf_q;
  logic                                drain_d, drain_q, drain_end;
  logic [RowIdxWidth-1:0]              drain_cnt_d, drain_cnt_q;
  logic                                busy_d, busy_q;

  assign drain_end = drain_q && (drain_cnt_q == RowIdxWidth'(NumRows - 1));

  // The result registers moved one row south (row 0 takes zeros).
  logic [NumRows*NumCols*AccWidth-1:0] res_south;
  logic [NumRows*NumCols-1:0]          res_ovf_south;
  if (NumRows == 1) begin : gen_south_one
    assign res_south     = '0;
    assign res_ovf_south = '0;
  end else begin : gen_south_many
    assign res_south     = {res_q[(NumRows-1)*NumCols*AccWidth-1:0], {(NumCols*AccWidth){1'b0}}};
    assign res_ovf_south = {res_ovf_q[(NumRows-1)*NumCols-1:0], {NumCols{1'b0}}};
  end

  always_comb begin
    res_d     = res_q;
    res_ovf_d = res_ovf_q;
    if (drain_q) begin
      res_d     = res_south;
      res_ovf_d = res_ovf_south;
    end else begin
      for (int p = 0; p < NumRows * NumCols; p++) begin
        if (pe_done[p]) begin
          res_d[p*AccWidth +: AccWidth] = pe_acc[p*AccWidth +: AccWidth];
          res_ovf_d[p]                  = pe_ovf[p];
        end
      end
    end

    drain_d     = pe_done[NumRows*NumCols-1] || (drain_q && !drain_end);
    drain_cnt_d = drain_q ? drain_cnt_q + 1'b1 : '0;
    busy_d      = (busy_q || (accept && in_last_i)) && !drain_end;
  end

  `LBFP_FF(res_q, res_d, '0)
  `LBFP_FF(res_ovf_q, res_ovf_d, '0)
  `LBFP_FF(drain_q, drain_d, 1'b0)
  `LBFP_FF(drain_cnt_q, drain_cnt_d, '0)
  `LBFP_FF(busy_q, busy_d, 1'b0)

  assign in_ready_o = !busy_q;

  // ---- output stage: requantize the bottom row, register everything ----
  localparam int BottomAcc = (NumRows - 1) * NumCols * AccWidth;
  logic [NumCols*W-1:0] code;

  if (UseBfp != 0) begin : gen_no_requant
    logic unused_cfg;
    assign unused_cfg = relu_i ^ (^exp_shift_i);
    assign code = '0;
  end else begin : gen_requant
    for (genvar c = 0; c < NumCols; c++) begin : gen_col
      lbfp_requant #(
        .DataWidth(W),
        .FracBits (FracBits),
        .AccWidth (AccWidth),
        .ExpWidth (ExpWidth)
      ) u_requant (
        .acc_i      (res_q[BottomAcc + c*AccWidth +: AccWidth]),
        .exp_shift_i(exp_shift_i[c*ExpWidth +: ExpWidth]),
        .relu_i     (relu_i),
        .code_o     (code[c*W +: W])
      );
    end
  end

  logic                        out_valid_d, out_valid_q;
  logic [RowIdxWidth-1:0]      out_row_d, out_row_q;
  logic [NumCols*AccWidth-1:0] out_acc_d, out_acc_q;
  logic [NumCols-1:0]          out_ovf_d, out_ovf_q;
  logic [NumCols*W-1:0]        out_code_d, out_code_q;

  assign out_valid_d = drain_q;
  assign out_row_d   = RowIdxWidth'(NumRows - 1) - drain_cnt_q;
  assign out_acc_d   = res_q[BottomAcc +: NumCols*AccWidth];
  assign out_ovf_d   = res_ovf_q[(NumRows-1)*NumCols +: NumCols];
  assign out_code_d  = code;

  `LBFP_FF(out_valid_q, out_valid_d, 1'b0)
  `LBFP_FF(out_row_q, out_row_d, '0)
  `LBFP_FF(out_acc_q, out_acc_d, '0)
  `LBFP_FF(out_ovf_q, out_ovf_d, '0)
  `LBFP_FF(out_code_q, out_code_d, '0)

  assign out_valid_o = out_valid_q;
  assign out_row_o   = out_row_q;
  assign out_acc_o   = out_acc_q;
  assign out_ovf_o   = out_ovf_q;
  assign out_code_o  = out_code_q;

`ifndef SYNTHESIS
  initial begin
    assert (NumRows >= 1 && NumCols >= 1)
      else $fatal(1, "systolic_array: %0d x %0d PEs", NumRows, NumCols);
    assert (DataWidth >= 2) else $fatal(1, "systolic_array: DataWidth %0d < 2", DataWidth);
    assert (AccWidth >= 2 && AccWidth <= 64)
      else $fatal(1, "systolic_array: AccWidth %0d outside 2..64", AccWidth);
    assert (PipeStages >= 0) else $fatal(1, "systolic_array: PipeStages %0d < 0", PipeStages);
    assert (UseBfp == 0 || UseBfp == 1) else $fatal(1, "systolic_array: UseBfp %0d", UseBfp);
    assert (ExpWidth >= 1) else $fatal(1, "systolic_array: ExpWidth %0d < 1", ExpWidth);
  end

  // The tile protocol: the order of in_first_i and in_last_i is checked where the steps arrive
  // unskewed, in PE (0, 0). The tile's bias, ReLU and requantization offsets hold still on every
  // accepted step after the first and until the results have drained.
  assert property (@(posedge clk_i) disable iff (!rst_ni)
                   busy_q || (accept && !in_first_i)
                   |-> $stable(bias_i) && $stable(relu_i) && $stable(exp_shift_i))
    else $error("systolic_array: bias_i, relu_i or exp_shift_i changed during a tile");
  assert property (@(posedge clk_i) disable iff (!rst_ni) !in_valid_i |-> !in_first_i && !in_last_i)
    else $error("systolic_array: in_first_i or in_last_i without in_valid_i");
`endif
endmodule
