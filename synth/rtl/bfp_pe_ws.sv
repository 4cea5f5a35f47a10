`include "lbfp_registers.svh"

// Synthesis-only top: the BFP8 baseline weight-stationary PE (rtl/pe_ws.sv, UseBfp = 1; HoldZeros
// defaults to 0, the textbook baseline, and the "iso" unit sets it, as for bfp_pe), on the ports
// `lbfp synth` plays its operand streams into. a_i is the streamed code; b_i is preloaded into the
// shadow weight register with each reduction's last operation and made active by the next
// reduction's first one, so the weight stays still for a whole reduction, as in a fold. The partial
// sum from the north is the PE's own previous sum, restarted from 0 after a reduction's last
// product: the adder sees sums of the same size as the output-stationary PE's accumulator.
module bfp_pe_ws #(
  parameter int DataWidth  = 8,
  parameter int AccWidth   = 32,
  parameter int PipeStages = 1,
  parameter bit HoldZeros  = 1'b0
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 valid_i,
  input  logic                 first_i,
  input  logic                 last_i,
  input  logic [DataWidth-1:0] a_i,
  input  logic [DataWidth-1:0] b_i,
  output logic                 valid_o,
  output logic                 first_o,
  output logic                 last_o,
  output logic [DataWidth-1:0] a_o,
  output logic [AccWidth-1:0]  acc_o,
  output logic                 ovf_o,
  output logic                 done_o
);
  logic                psum_valid, restart_d, restart_q;
  logic [AccWidth-1:0] psum_in;
  always_comb begin
    // The product now at the adder opens a reduction when the last one added closed one.
    restart_d = psum_valid ? done_o : restart_q;
    psum_in   = restart_d ? '0 : acc_o;
  end
  `LBFP_FF(restart_q, restart_d, 1'b1)

  pe_ws #(
    .UseBfp    (1'b1),
    .DataWidth (DataWidth),
    .AccWidth  (AccWidth),
    .PipeStages(PipeStages),
    .HoldZeros (HoldZeros)
  ) u_pe (
    .clk_i       (clk_i),
    .rst_ni      (rst_ni),
    .w_valid_i   (valid_i && last_i),
    .w_i         (b_i),
    .valid_i     (valid_i),
    .first_i     (first_i),
    .last_i      (last_i),
    .a_i         (a_i),
    .psum_i      (psum_in),
    .psum_ovf_i  (!restart_d && ovf_o),
    .valid_o     (valid_o),
    .first_o     (first_o),
    .last_o      (last_o),
    .a_o         (a_o),
    .psum_o      (acc_o),
    .psum_ovf_o  (ovf_o),
    .psum_valid_o(psum_valid),
    .psum_last_o (done_o)
  );
endmodule
