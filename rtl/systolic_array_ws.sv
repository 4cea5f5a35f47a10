`include "lbfp_registers.svh"

// An R x C weight-stationary systolic array of LBFP (or, with UseBfp, BFP8 baseline) PEs
// (pe_ws) with requantizers at its south edge; the same module runs the input-stationary
// dataflow, the driver swapping the operands' roles. See docs/microarchitecture.md ("Weight- and
// input-stationary array") for the block diagram and the latency derivation.
//
// A fold is one K chunk of at most R rows by at most C columns of stationary codes and M streamed
// steps; step m computes one output row of C values:
//   out[m][c] = init[m][c] + sum_{r<R} a[m][r] * w[r][c], added in r order through the
//   saturating adders (the golden accumulator's steps, sticky flag included).
// Weight-stationary: w[r][c] = B[k0+r][n0+c], a[m][r] = A[m][k0+r]. Input-stationary:
// w[r][c] = A[m0+c][k0+r], a[n][r] = B[k0+r][n] (step n puts out column n of the tile).
// Unused rows and columns are padded with zero codes by the driver.
//
// Protocol.
// - Weight preload: R cycles with w_valid_i && w_ready_o, one row r = 0, 1, ..., R-1 each (the
//   row is counted inside), w_i holding w[r][c] for every column c. Column c is skewed c cycles
//   and written into the SHADOW register of PE (r, c); each PE swaps it into its active register
//   when the fold's first step reaches it, so the next fold's preload overlaps this fold's steps.
//   Row r of the next fold is taken from 1 + r cycles after this fold's first step.
// - Steps: one per accepted cycle (in_valid_i && in_ready_o): a_i holds row r's streamed code,
//   init_acc_i / init_ovf_i the start value of this step's output per column (a bias, or the
//   partial sum and sticky flag of a K split) and step_shift_i the step's part of the
//   requantization offset; in_first_i marks a fold's first step and in_last_i its last one (both
//   for M = 1). relu_i and exp_shift_i (per column) are taken with the first step. A first step
//   waits (in_ready_o low) until the fold's R weight rows are in; the steps of consecutive folds
//   may follow each other without a gap.
// - Results: a step accepted in cycle t has its output row on the outputs in cycle t + R + C +
//   PipeStages: out_valid_o, out_last_o (the fold's last step), out_acc_o (the C sums), out_ovf_o
//   (their sticky flags) and out_code_o (requantized with exp_shift_i[c] + step_shift_i; 0 in the
//   BFP8 array), in step order.
// Row r's codes are delayed r cycles at the west edge and travel east one PE per cycle, the start
// values are delayed c + PipeStages cycles at the north edge, the sums travel south one PE per
// cycle, and a deskew of C-1-c cycles at the south edge lines a step's columns up again. An
// isolated fold of M steps fed without gaps takes M + 2R + C + PipeStages cycles from its first
// weight row to its last output row, both counted; back to back, folds start max(M, R + 1)
// cycles apart (lbfp::arch::ArrayTimeline with a weight- or input-stationary geometry).
module systolic_array_ws #(
  parameter int NumRows    = 4,
  parameter int NumCols    = 4,
  parameter int DataWidth  = 8,     // W
  parameter int FracBits   = 4,     // F (LBFP only)
  parameter int LutBits    = 8,     // P (LBFP only)
  parameter int AccWidth   = 32,    // A
  parameter int PipeStages = 1,     // product registers in each PE
  parameter bit HoldZeros  = 1'b1,  // PEs hold their operands on zero products (PipeStages >= 1)
  parameter int UseBfp     = 0,     // 1: BFP8 baseline PEs, no requantizer (out_code_o = 0)
  parameter int ExpWidth   = 12
) (
  input  logic                          clk_i,
  input  logic                          rst_ni,
  input  logic                          w_valid_i,
  output logic                          w_ready_o,
  input  logic [NumCols*DataWidth-1:0]  w_i,          // column c at [c*DataWidth +: DataWidth]
  input  logic                          in_valid_i,
  input  logic                          in_first_i,
  input  logic                          in_last_i,
  output logic                          in_ready_o,
  input  logic [NumRows*DataWidth-1:0]  a_i,          // row r at [r*DataWidth +: DataWidth]
  input  logic [NumCols*AccWidth-1:0]   init_acc_i,   // column c at [c*AccWidth +: AccWidth]
  input  logic [NumCols-1:0]            init_ovf_i,
  input  logic [ExpWidth-1:0]           step_shift_i, // signed, added to exp_shift_i[c]
  input  logic                          relu_i,
  input  logic [NumCols*ExpWidth-1:0]   exp_shift_i,  // per column, signed
  output logic                          out_valid_o,
  output logic                          out_last_o,
  output logic [NumCols*AccWidth-1:0]   out_acc_o,    // column c at [c*AccWidth +: AccWidth]
  output logic [NumCols-1:0]            out_ovf_o,
  output logic [NumCols*DataWidth-1:0]  out_code_o
);
  localparam int W = DataWidth;
  localparam int RowIdxWidth = lbfp_pkg::index_width(NumRows);
  localparam int HStride = NumCols + 1;  // horizontal links per row (the last one is unused)
  localparam int Pes = NumRows * NumCols;
  // Cycles from a fold's first step to the first weight row of the next (row r: + r).
  localparam int PreloadGap = 1;
  // Cycles from a step at the inputs to its sums at the requantizers (the output register adds 1).
  localparam int ToRequant = NumRows + NumCols + PipeStages - 1;
  localparam int FirstCntWidth = $clog2(NumRows + PreloadGap + 1) + 1;
  localparam int LoadCntWidth = $clog2(NumRows + 1) + 1;
  // Folds between their first step and their last row at the requantizers: the requantization
  // parameters wait for each in a queue. First steps are at least R + 1 cycles apart (R weight
  // rows after the previous first step) and a fold's last row reaches the requantizers
  // ToRequant cycles after its last step, which precedes the next fold's first step; so at most
  // 2 + (ToRequant - 2) / (R + 1) folds are ever in flight. The bound below exceeds that.
  localparam int ParamDepth = 2 + (NumRows + NumCols + PipeStages) / (NumRows + 1);
  localparam int FirstSat = NumRows + PreloadGap;

  logic accept, accept_first, accept_w;
  assign accept       = in_valid_i && in_ready_o;
  assign accept_first = accept && in_first_i;
  assign accept_w     = w_valid_i && w_ready_o;

  // ---- flow control ----
  // since_first_q: cycles since the last accepted first step (saturating); loaded_q: weight rows
  // preloaded for the next fold.
  logic [FirstCntWidth-1:0] since_first_d, since_first_q;
  logic [LoadCntWidth-1:0]  loaded_d, loaded_q;

  always_comb begin
    since_first_d = accept_first ? FirstCntWidth'(1)
                  : (32'(since_first_q) == FirstSat ? since_first_q : since_first_q + 1'b1);
    loaded_d      = accept_first ? '0 : (accept_w ? loaded_q + 1'b1 : loaded_q);
  end

  `LBFP_FF(since_first_q, since_first_d, FirstCntWidth'(FirstSat))
  `LBFP_FF(loaded_q, loaded_d, '0)

  assign w_ready_o  = (loaded_q < LoadCntWidth'(NumRows)) &&
                      (32'(since_first_q) >= 32'(loaded_q) + PreloadGap);
  assign in_ready_o = !in_first_i || loaded_q == LoadCntWidth'(NumRows);

  // ---- weight preload: column c skewed c cycles, then written into row `row`'s shadows ----
  logic [NumCols-1:0]             pre_valid;
  logic [NumCols*RowIdxWidth-1:0] pre_row;
  logic [NumCols*W-1:0]           pre_w;
  // The row being loaded (a part select, not a size cast: Yosys 0.23 ignores the cast's width in
  // a concatenation and would shift the fields).
  logic [RowIdxWidth-1:0]         load_row;
  assign load_row = loaded_q[RowIdxWidth-1:0];

  for (genvar c = 0; c < NumCols; c++) begin : gen_preload
    delay_line #(
      .Width(1 + RowIdxWidth + W),
      .Depth(c)
    ) u_skew (
      .clk_i (clk_i),
      .rst_ni(rst_ni),
      .data_i({accept_w, load_row, w_i[c*W +: W]}),
      .data_o({pre_valid[c], pre_row[c*RowIdxWidth +: RowIdxWidth], pre_w[c*W +: W]})
    );
  end

  // ---- links between PEs ----
  // a and flags {valid, first, last} of row r entering column c: index r*HStride + c.
  // The partial sum of column c entering row r: index r*NumCols + c (row R: the south edge).
  /* verilator lint_off UNUSEDSIGNAL */
  logic [NumRows*HStride*W-1:0]            h_a;
  logic [NumRows*HStride*3-1:0]            h_flags;
  logic [(NumRows+1)*NumCols*AccWidth-1:0] v_psum;
  logic [(NumRows+1)*NumCols-1:0]          v_ovf;
  logic [Pes-1:0]                          pe_valid, pe_last;  // PE (R-1, C-1)'s only
  /* verilator lint_on UNUSEDSIGNAL */

  // ---- west edge: row r's codes and the step's flags, skewed r cycles ----
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

  // ---- north edge: column c's start values, delayed c + PipeStages cycles ----
  for (genvar c = 0; c < NumCols; c++) begin : gen_north
    delay_line #(
      .Width(AccWidth + 1),
      .Depth(c + PipeStages)
    ) u_skew (
      .clk_i (clk_i),
      .rst_ni(rst_ni),
      .data_i({init_ovf_i[c], init_acc_i[c*AccWidth +: AccWidth]}),
      .data_o({v_ovf[c], v_psum[c*AccWidth +: AccWidth]})
    );
  end

  // ---- the PE grid ----
  for (genvar r = 0; r < NumRows; r++) begin : gen_row
    for (genvar c = 0; c < NumCols; c++) begin : gen_col
      localparam int Hin  = r * HStride + c;
      localparam int Hout = Hin + 1;
      localparam int Vin  = r * NumCols + c;
      localparam int Vout = Vin + NumCols;
      logic w_write;
      assign w_write = pre_valid[c] && pre_row[c*RowIdxWidth +: RowIdxWidth] == RowIdxWidth'(r);
      pe_ws #(
        .UseBfp    (UseBfp != 0),
        .DataWidth (W),
        .FracBits  (FracBits),
        .LutBits   (LutBits),
        .AccWidth  (AccWidth),
        .PipeStages(PipeStages),
        .HoldZeros (HoldZeros)
      ) u_pe (
        .clk_i       (clk_i),
        .rst_ni      (rst_ni),
        .w_valid_i   (w_write),
        .w_i         (pre_w[c*W +: W]),
        .valid_i     (h_flags[Hin*3 + 2]),
        .first_i     (h_flags[Hin*3 + 1]),
        .last_i      (h_flags[Hin*3]),
        .a_i         (h_a[Hin*W +: W]),
        .psum_i      (v_psum[Vin*AccWidth +: AccWidth]),
        .psum_ovf_i  (v_ovf[Vin]),
        .valid_o     (h_flags[Hout*3 + 2]),
        .first_o     (h_flags[Hout*3 + 1]),
        .last_o      (h_flags[Hout*3]),
        .a_o         (h_a[Hout*W +: W]),
        .psum_o      (v_psum[Vout*AccWidth +: AccWidth]),
        .psum_ovf_o  (v_ovf[Vout]),
        .psum_valid_o(pe_valid[r*NumCols + c]),
        .psum_last_o (pe_last[r*NumCols + c])
      );
    end
  end

  // ---- south edge: deskew column c by C-1-c cycles ----
  localparam int South = NumRows * NumCols;  // first link index of the south edge
  logic [NumCols*AccWidth-1:0] row_acc;
  logic [NumCols-1:0]          row_ovf;
  logic                        row_valid, row_last;

  for (genvar c = 0; c < NumCols; c++) begin : gen_south
    delay_line #(
      .Width(AccWidth + 1),
      .Depth(NumCols - 1 - c)
    ) u_deskew (
      .clk_i (clk_i),
      .rst_ni(rst_ni),
      .data_i({v_ovf[South + c], v_psum[(South + c)*AccWidth +: AccWidth]}),
      .data_o({row_ovf[c], row_acc[c*AccWidth +: AccWidth]})
    );
  end
  assign row_valid = pe_valid[Pes - 1];
  assign row_last  = pe_last[Pes - 1];

  // ---- output stage: requantize the row, register everything ----
  logic [NumCols*W-1:0] code;

  if (UseBfp != 0) begin : gen_no_requant
    logic unused_cfg;
    assign unused_cfg = relu_i ^ (^exp_shift_i) ^ (^step_shift_i);
    assign code = '0;
  end else begin : gen_requant
    // The step's part of the offset travels with the step to the requantizers.
    logic [ExpWidth-1:0] row_step_shift;
    delay_line #(
      .Width(ExpWidth),
      .Depth(ToRequant)
    ) u_step_shift (
      .clk_i (clk_i),
      .rst_ni(rst_ni),
      .data_i(step_shift_i),
      .data_o(row_step_shift)
    );

    // The fold's parameters, taken with its first step and dropped when its last row is at the
    // requantizers.
    localparam int PtrWidth = $clog2(ParamDepth) + 1;
    logic [ParamDepth*(NumCols*ExpWidth+1)-1:0] params_d, params_q;
    logic [PtrWidth-1:0] head_d, head_q, count_d, count_q, tail;  // count_q <= ParamDepth
    logic [NumCols*ExpWidth-1:0] head_shift;
    logic                        head_relu, pop;

    // Indices kept inside the queue even for register values no reset produced (a simulator's
    // state before reset): an out-of-range part select would read or write past the vector.
    logic [PtrWidth-1:0] head;
    always_comb begin
      params_d = params_q;
      pop      = row_valid && row_last;
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
      if (pop) begin
        head_d  = (32'(head) + 1 == ParamDepth) ? '0 : head + 1'b1;
        count_d = count_d - 1'b1;
      end
      {head_relu, head_shift} = params_q[32'(head)*(NumCols*ExpWidth+1) +: NumCols*ExpWidth+1];
    end

    `LBFP_FF(params_q, params_d, '0)
    `LBFP_FF(head_q, head_d, '0)
    `LBFP_FF(count_q, count_d, '0)

    for (genvar c = 0; c < NumCols; c++) begin : gen_col
      logic [ExpWidth-1:0] shift;
      assign shift = head_shift[c*ExpWidth +: ExpWidth] + row_step_shift;
      lbfp_requant #(
        .DataWidth(W),
        .FracBits (FracBits),
        .AccWidth (AccWidth),
        .ExpWidth (ExpWidth)
      ) u_requant (
        .acc_i      (row_acc[c*AccWidth +: AccWidth]),
        .exp_shift_i(shift),
        .relu_i     (head_relu),
        .code_o     (code[c*W +: W])
      );
    end

`ifndef SYNTHESIS
    // ParamDepth bounds the folds in flight (see above); a push never finds the queue full.
    assert property (@(posedge clk_i) disable iff (!rst_ni)
                     accept_first |-> 32'(count_q) < ParamDepth)
      else $error("systolic_array_ws: parameter queue overflow (%0d folds)", count_q);
    assert property (@(posedge clk_i) disable iff (!rst_ni) row_valid |-> count_q != 0)
      else $error("systolic_array_ws: a fold's rows left without its parameters");
`endif
  end

  logic                        out_valid_d, out_valid_q, out_last_d, out_last_q;
  logic [NumCols*AccWidth-1:0] out_acc_d, out_acc_q;
  logic [NumCols-1:0]          out_ovf_d, out_ovf_q;
  logic [NumCols*W-1:0]        out_code_d, out_code_q;

  assign out_valid_d = row_valid;
  assign out_last_d  = row_valid && row_last;
  assign out_acc_d   = row_acc;
  assign out_ovf_d   = row_ovf;
  assign out_code_d  = code;

  `LBFP_FF(out_valid_q, out_valid_d, 1'b0)
  `LBFP_FF(out_last_q, out_last_d, 1'b0)
  `LBFP_FF(out_acc_q, out_acc_d, '0)
  `LBFP_FF(out_ovf_q, out_ovf_d, '0)
  `LBFP_FF(out_code_q, out_code_d, '0)

  assign out_valid_o = out_valid_q;
  assign out_last_o  = out_last_q;
  assign out_acc_o   = out_acc_q;
  assign out_ovf_o   = out_ovf_q;
  assign out_code_o  = out_code_q;

`ifndef SYNTHESIS
  initial begin
    assert (NumRows >= 1 && NumCols >= 1)
      else $fatal(1, "systolic_array_ws: %0d x %0d PEs", NumRows, NumCols);
    assert (DataWidth >= 2) else $fatal(1, "systolic_array_ws: DataWidth %0d < 2", DataWidth);
    assert (AccWidth >= 2 && AccWidth <= 64)
      else $fatal(1, "systolic_array_ws: AccWidth %0d outside 2..64", AccWidth);
    assert (PipeStages >= 0)
      else $fatal(1, "systolic_array_ws: PipeStages %0d < 0", PipeStages);
    assert (UseBfp == 0 || UseBfp == 1)
      else $fatal(1, "systolic_array_ws: UseBfp %0d", UseBfp);
    assert (ExpWidth >= 1) else $fatal(1, "systolic_array_ws: ExpWidth %0d < 1", ExpWidth);
  end

  // The fold protocol: flags only with valid.
  assert property (@(posedge clk_i) disable iff (!rst_ni) !in_valid_i |-> !in_first_i && !in_last_i)
    else $error("systolic_array_ws: in_first_i or in_last_i without in_valid_i");
`endif
endmodule
