`include "lbfp_registers.svh"

// An R x C output-stationary systolic array of LBFP (or, with UseBfp, BFP8 baseline) PEs with
// requantizers at its output. See docs/microarchitecture.md for the block diagram and timing.
//
// Protocol. A tile is a preload and a reduction; tiles overlap (the next one is preloaded and
// fed while the previous one drains).
// - Preload: R cycles with init_valid_i && init_ready_o, one row r = 0, 1, ..., R-1 each, give
//   every PE of that row its start value: init_acc_i (per column, accumulator units, signed) and
//   init_ovf_i (per column, the sticky overflow flag it carries). A bias is a preload of the
//   bias in every row with clear flags; resuming a split reduction preloads the partial sums
//   and flags of its earlier part. Row r of the next tile is taken from r + max(PipeStages, 1)
//   cycles after the previous tile's first step, once that tile's row r no longer needs it.
// - Reduction: one step k per accepted cycle (in_valid_i && in_ready_o): a_i holds A[r][k] for
//   every row r, b_i holds B[k][c] for every column c; in_first_i marks k = 0 and in_last_i
//   marks k = K-1 (both for K = 1). relu_i and exp_shift_i (per column: scale - Eo, the scale
//   carrying the column's weight exponent) are taken with the first step. Row r's operands are
//   delayed r cycles and column c's c cycles at the edges (the skew), so A[r][k] and B[k][c]
//   meet in PE(r,c) at cycle k + r + c. A first step waits (in_ready_o low) until the tile's R
//   rows are preloaded; a last step waits until max(R, C) cycles after the previous tile's last
//   step (one output row per cycle; each PE's result register is free again).
// - Results: each PE copies its finished sum into a result register of its own, so its
//   accumulator can start the next tile at once. Row r leaves when its last PE (r, C-1) is
//   done, top row first, one row per cycle: out_valid_o for R cycles, out_row_o names the row,
//   out_acc_o the C accumulators, out_ovf_o their saturation flags, out_code_o their
//   requantized codes.
// An isolated tile takes K + 2R + C + PipeStages cycles from its first preload row to its last
// result, both counted (lbfp::arch::array_tile_cycles); back to back, tiles start
// max(K, R + max(PipeStages, 1), C) cycles apart (lbfp::arch::array_tile_interval).
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
  input  logic                          init_valid_i,
  output logic                          init_ready_o,
  input  logic [NumCols*AccWidth-1:0]   init_acc_i,  // column c at [c*AccWidth +: AccWidth]
  input  logic [NumCols-1:0]            init_ovf_i,
  input  logic                          in_valid_i,
  input  logic                          in_first_i,
  input  logic                          in_last_i,
  output logic                          in_ready_o,
  input  logic [NumRows*DataWidth-1:0]  a_i,   // row r at [r*DataWidth +: DataWidth]
  input  logic [NumCols*DataWidth-1:0]  b_i,   // column c at [c*DataWidth +: DataWidth]
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
  localparam int Pes = NumRows * NumCols;
  // Cycles between a tile's first step and the first preload row of the next (row r: + r).
  localparam int PreloadGap = (PipeStages > 1) ? PipeStages : 1;
  // Cycles between two tiles' last steps: one output row per cycle, and PE (r, 0) of the later
  // tile may not finish before row r of the earlier one has left.
  localparam int LastGap = (NumRows > NumCols) ? NumRows : NumCols;
  localparam int FirstCntWidth = $clog2(NumRows + PreloadGap + 1) + 1;
  localparam int LastCntWidth = $clog2(LastGap + 1) + 1;
  localparam int LoadCntWidth = $clog2(NumRows + 1) + 1;
  // Tiles between their first step and their last result row: the requantization parameters
  // wait for each in a queue. Last steps are LastGap apart and a tile's rows have left R + C +
  // PipeStages - 1 cycles after its last step, so no more than this many are ever in flight.
  localparam int ParamDepth = 3 + (NumRows + NumCols + PipeStages) / LastGap;

  logic accept, accept_first, accept_last, accept_init;
  assign accept       = in_valid_i && in_ready_o;
  assign accept_first = accept && in_first_i;
  assign accept_last  = accept && in_last_i;
  assign accept_init  = init_valid_i && init_ready_o;

  // ---- flow control ----
  // since_first_q / since_last_q: cycles since the last accepted first / last step (saturating);
  // loaded_q: rows preloaded for the next tile.
  logic [FirstCntWidth-1:0] since_first_d, since_first_q;
  logic [LastCntWidth-1:0]  since_last_d, since_last_q;
  logic [LoadCntWidth-1:0]  loaded_d, loaded_q;
  logic                     params_full;

  localparam logic [FirstCntWidth-1:0] FirstSat = FirstCntWidth'(NumRows + PreloadGap);
  localparam logic [LastCntWidth-1:0]  LastSat  = LastCntWidth'(LastGap);

  always_comb begin
    since_first_d = accept_first ? FirstCntWidth'(1)
                  : (since_first_q == FirstSat ? since_first_q : since_first_q + 1'b1);
    since_last_d  = accept_last ? LastCntWidth'(1)
                  : (since_last_q == LastSat ? since_last_q : since_last_q + 1'b1);
    loaded_d      = accept_first ? '0 : (accept_init ? loaded_q + 1'b1 : loaded_q);
  end

  `LBFP_FF(since_first_q, since_first_d, FirstSat)
  `LBFP_FF(since_last_q, since_last_d, LastSat)
  `LBFP_FF(loaded_q, loaded_d, '0)

  assign init_ready_o = (loaded_q < LoadCntWidth'(NumRows)) &&
                        (32'(since_first_q) >= 32'(loaded_q) + 32'(PreloadGap));
  assign in_ready_o   = (!in_first_i || (loaded_q == LoadCntWidth'(NumRows) && !params_full)) &&
                        (!in_last_i || since_last_q == LastSat);

  // ---- preload: column c's values are skewed c cycles, then written into row `row` ----
  logic [Pes*AccWidth-1:0] start_acc_d, start_acc_q;
  logic [Pes-1:0]          start_ovf_d, start_ovf_q;
  logic [NumCols-1:0]                 pre_valid;
  logic [NumCols*RowIdxWidth-1:0]     pre_row;
  logic [NumCols*AccWidth-1:0]        pre_acc;
  logic [NumCols-1:0]                 pre_ovf;

  for (genvar c = 0; c < NumCols; c++) begin : gen_preload
    delay_line #(
      .Width(2 + RowIdxWidth + AccWidth),
      .Depth(c)
    ) u_skew (
      .clk_i (clk_i),
      .rst_ni(rst_ni),
      .data_i({accept_init, RowIdxWidth'(loaded_q), init_ovf_i[c],
               init_acc_i[c*AccWidth +: AccWidth]}),
      .data_o({pre_valid[c], pre_row[c*RowIdxWidth +: RowIdxWidth], pre_ovf[c],
               pre_acc[c*AccWidth +: AccWidth]})
    );
  end

  always_comb begin
    start_acc_d = start_acc_q;
    start_ovf_d = start_ovf_q;
    for (int r = 0; r < NumRows; r++) begin
      for (int c = 0; c < NumCols; c++) begin
        if (pre_valid[c] && pre_row[c*RowIdxWidth +: RowIdxWidth] == RowIdxWidth'(r)) begin
          start_acc_d[(r*NumCols + c)*AccWidth +: AccWidth] = pre_acc[c*AccWidth +: AccWidth];
          start_ovf_d[r*NumCols + c]                        = pre_ovf[c];
        end
      end
    end
  end

  `LBFP_FF(start_acc_q, start_acc_d, '0)
  `LBFP_FF(start_ovf_q, start_ovf_d, '0)

  // ---- links between PEs ----
  // a and flags {valid, first, last} of row r entering column c: index r*HStride + c.
  // b of column c entering row r: index r*NumCols + c.
  /* verilator lint_off UNUSEDSIGNAL */
  logic [NumRows*HStride*W-1:0]   h_a;
  logic [NumRows*HStride*3-1:0]   h_flags;
  logic [(NumRows+1)*NumCols*W-1:0] v_b;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [Pes*AccWidth-1:0] pe_acc;
  logic [Pes-1:0]          pe_ovf, pe_done;

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
        .clk_i     (clk_i),
        .rst_ni    (rst_ni),
        .valid_i   (h_flags[Hin*3 + 2]),
        .first_i   (h_flags[Hin*3 + 1]),
        .last_i    (h_flags[Hin*3]),
        .a_i       (h_a[Hin*W +: W]),
        .b_i       (v_b[Vin*W +: W]),
        .bias_i    (start_acc_q[Pe*AccWidth +: AccWidth]),
        .init_ovf_i(start_ovf_q[Pe]),
        .acc_o     (pe_acc[Pe*AccWidth +: AccWidth]),
        .ovf_o     (pe_ovf[Pe]),
        .done_o    (pe_done[Pe]),
        .valid_o   (h_flags[Hout*3 + 2]),
        .first_o   (h_flags[Hout*3 + 1]),
        .last_o    (h_flags[Hout*3]),
        .a_o       (h_a[Hout*W +: W]),
        .b_o       (v_b[Vout*W +: W])
      );
    end
  end

  // ---- result registers and the drain ----
  // Each PE copies its finished sum into res_q (res_d shows it in the cycle it finishes). Row r
  // leaves in the cycle its last PE (r, C-1) finishes, read from res_d.
  logic [Pes*AccWidth-1:0] res_d, res_q;
  logic [Pes-1:0]          res_ovf_d, res_ovf_q;
  logic [NumRows-1:0]      row_done;
  logic                    row_any;
  logic [RowIdxWidth-1:0]  row_idx;
  logic [NumCols*AccWidth-1:0] row_acc;
  logic [NumCols-1:0]          row_ovf;

  always_comb begin
    for (int p = 0; p < Pes; p++) begin
      res_d[p*AccWidth +: AccWidth] = pe_done[p] ? pe_acc[p*AccWidth +: AccWidth]
                                                 : res_q[p*AccWidth +: AccWidth];
      res_ovf_d[p]                  = pe_done[p] ? pe_ovf[p] : res_ovf_q[p];
    end
    row_any = 1'b0;
    row_idx = '0;
    row_acc = '0;
    row_ovf = '0;
    for (int r = 0; r < NumRows; r++) begin
      row_done[r] = pe_done[r*NumCols + NumCols - 1];
      if (row_done[r]) begin
        row_any = 1'b1;
        row_idx = RowIdxWidth'(r);
        row_acc = res_d[r*NumCols*AccWidth +: NumCols*AccWidth];
        row_ovf = res_ovf_d[r*NumCols +: NumCols];
      end
    end
  end

  `LBFP_FF(res_q, res_d, '0)
  `LBFP_FF(res_ovf_q, res_ovf_d, '0)

  // ---- output stage: requantize the leaving row, register everything ----
  logic [NumCols*W-1:0] code;

  if (UseBfp != 0) begin : gen_no_requant
    logic unused_cfg;
    assign unused_cfg = relu_i ^ (^exp_shift_i);
    assign code = '0;
    assign params_full = 1'b0;
  end else begin : gen_requant
    // The requantization parameters of each tile in flight, taken with its first step and
    // dropped when its last row (R-1) leaves.
    localparam int PtrWidth = $clog2(ParamDepth) + 1;
    logic [ParamDepth*(NumCols*ExpWidth+1)-1:0] params_d, params_q;
    logic [PtrWidth-1:0] head_d, head_q, count_d, count_q, tail;  // count_q <= ParamDepth
    logic [NumCols*ExpWidth-1:0] head_shift;
    logic                        head_relu;

    // Indices kept inside the queue even for register values no reset produced (a simulator's
    // state before reset): an out-of-range part select would read or write past the vector.
    logic [PtrWidth-1:0] head;
    always_comb begin
      params_d = params_q;
      head     = (32'(head_q) < ParamDepth) ? head_q : '0;
      tail     = (32'(head) + 32'(count_q)) >= ParamDepth
               ? PtrWidth'(32'(head) + 32'(count_q) - ParamDepth)
               : head + count_q;
      if (32'(tail) >= ParamDepth) tail = '0;
      if (accept_first) begin
        params_d[32'(tail)*(NumCols*ExpWidth+1) +: NumCols*ExpWidth+1] = {relu_i, exp_shift_i};
      end
      head_d  = head_q;
      count_d = count_q + PtrWidth'(accept_first);
      if (row_done[NumRows-1]) begin
        head_d  = (32'(head) + 1 == ParamDepth) ? '0 : head + 1'b1;
        count_d = count_d - 1'b1;
      end
      {head_relu, head_shift} = params_q[32'(head)*(NumCols*ExpWidth+1) +: NumCols*ExpWidth+1];
    end

    `LBFP_FF(params_q, params_d, '0)
    `LBFP_FF(head_q, head_d, '0)
    `LBFP_FF(count_q, count_d, '0)

    assign params_full = 32'(count_q) == ParamDepth;

    for (genvar c = 0; c < NumCols; c++) begin : gen_col
      lbfp_requant #(
        .DataWidth(W),
        .FracBits (FracBits),
        .AccWidth (AccWidth),
        .ExpWidth (ExpWidth)
      ) u_requant (
        .acc_i      (row_acc[c*AccWidth +: AccWidth]),
        .exp_shift_i(head_shift[c*ExpWidth +: ExpWidth]),
        .relu_i     (head_relu),
        .code_o     (code[c*W +: W])
      );
    end

`ifndef SYNTHESIS
    assert property (@(posedge clk_i) disable iff (!rst_ni) row_done[NumRows-1] |-> count_q != 0)
      else $error("systolic_array: a tile's rows left without its parameters");
`endif
  end

  logic                        out_valid_d, out_valid_q;
  logic [RowIdxWidth-1:0]      out_row_d, out_row_q;
  logic [NumCols*AccWidth-1:0] out_acc_d, out_acc_q;
  logic [NumCols-1:0]          out_ovf_d, out_ovf_q;
  logic [NumCols*W-1:0]        out_code_d, out_code_q;

  assign out_valid_d = row_any;
  assign out_row_d   = row_idx;
  assign out_acc_d   = row_acc;
  assign out_ovf_d   = row_ovf;
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

  // The tile protocol: flags only with valid; at most one row leaves per cycle (the last-step
  // spacing guarantees it).
  assert property (@(posedge clk_i) disable iff (!rst_ni) !in_valid_i |-> !in_first_i && !in_last_i)
    else $error("systolic_array: in_first_i or in_last_i without in_valid_i");
  assert property (@(posedge clk_i) disable iff (!rst_ni) $onehot0(row_done))
    else $error("systolic_array: two result rows in one cycle");
`endif
endmodule
