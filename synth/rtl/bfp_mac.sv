// Synthesis-only top: one BFP8 multiply-accumulate unit, bfp_mul (8x8 signed, 16-bit product)
// feeding sat_accumulator directly; the baseline twin of lbfp_mac. IsolateZeros as in bfp_mul.
// A MAC without a bias: first_i restarts the accumulator from zero.
module bfp_mac #(
  parameter int DataWidth    = 8,
  parameter int AccWidth     = 32,
  parameter bit IsolateZeros = 1'b0,
  localparam int ProdWidth = 2 * DataWidth
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 valid_i,
  input  logic                 first_i,
  input  logic [DataWidth-1:0] a_i,
  input  logic [DataWidth-1:0] b_i,
  output logic [AccWidth-1:0]  acc_o,
  output logic                 ovf_o
);
  logic [ProdWidth-1:0] prod;

  bfp_mul #(
    .DataWidth   (DataWidth),
    .IsolateZeros(IsolateZeros)
  ) u_mul (
    .a_i   (a_i),
    .b_i   (b_i),
    .prod_o(prod)
  );

  sat_accumulator #(
    .AccWidth (AccWidth),
    .ProdWidth(ProdWidth)
  ) u_acc (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .valid_i(valid_i),
    .first_i(first_i),
    .init_i ({AccWidth{1'b0}}),  // no bias: a reduction starts from zero
    .init_ovf_i(1'b0),
    .prod_i (prod),
    .acc_o  (acc_o),
    .ovf_o  (ovf_o)
  );
endmodule
