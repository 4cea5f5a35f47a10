// Constants and constant functions of the LBFP datapath (docs/spec.md). Everything here is
// evaluated at elaboration: the antilog LUT and the requantizer's rounding boundaries are derived
// from one exact table of 2^(k/128), so any supported (F, P, A) gets its own constants without a
// real-number function (Yosys 0.23 cannot evaluate $pow on reals in a constant function).
//
// Both Verilator 5.006 and Yosys 0.23 read this file: functions assign their name instead of
// `return`, modules refer to it as lbfp_pkg::name (no `import`).
package lbfp_pkg;

  // floor(2^63 * 2^(k/128)), k in [0, 128), decided exactly with big integers
  // (rtl/gen_exp2_table.py prints this table). F is at most 6: every LUT point 2^(f/2^F) and every
  // boundary 2^((2j+1)/2^(F+1)) is then an entry k/128 of this table.
  function automatic logic [63:0] exp2_q63(input int k);
    unique case (k)
      0: exp2_q63 = 64'h8000000000000000;
      1: exp2_q63 = 64'h80b1ed4fd999ab6c;
      2: exp2_q63 = 64'h8164d1f3bc030773;
      3: exp2_q63 = 64'h8218af4373fc25eb;
      4: exp2_q63 = 64'h82cd8698ac2ba1d7;
      5: exp2_q63 = 64'h8383594eefb6ee36;
      6: exp2_q63 = 64'h843a28c3acde4046;
      7: exp2_q63 = 64'h84f1f656379c1a29;
      8: exp2_q63 = 64'h85aac367cc487b14;
      9: exp2_q63 = 64'h8664915b923fba03;
      10: exp2_q63 = 64'h871f61969e8d1010;
      11: exp2_q63 = 64'h87db357ff698d791;
      12: exp2_q63 = 64'h88980e8092da8527;
      13: exp2_q63 = 64'h8955ee03618e5fdc;
      14: exp2_q63 = 64'h8a14d575496efd9a;
      15: exp2_q63 = 64'h8ad4c6452c728924;
      16: exp2_q63 = 64'h8b95c1e3ea8bd6e6;
      17: exp2_q63 = 64'h8c57c9c4646f4ddd;
      18: exp2_q63 = 64'h8d1adf5b7e5ba9e5;
      19: exp2_q63 = 64'h8ddf042022e69cd5;
      20: exp2_q63 = 64'h8ea4398b45cd53c0;
      21: exp2_q63 = 64'h8f6a8117e6c8e5c4;
      22: exp2_q63 = 64'h9031dc431466b1dc;
      23: exp2_q63 = 64'h90fa4c8beee4b12a;
      24: exp2_q63 = 64'h91c3d373ab11c336;
      25: exp2_q63 = 64'h928e727d9531f9ac;
      26: exp2_q63 = 64'h935a2b2f13e6e92b;
      27: exp2_q63 = 64'h9426ff0fab1c04b6;
      28: exp2_q63 = 64'h94f4efa8fef70961;
      29: exp2_q63 = 64'h95c3fe86d6cc7fee;
      30: exp2_q63 = 64'h96942d3720185a00;
      31: exp2_q63 = 64'h97657d49f17ab08e;
      32: exp2_q63 = 64'h9837f0518db8a96f;
      33: exp2_q63 = 64'h990b87e266c189a9;
      34: exp2_q63 = 64'h99e0459320b7fa64;
      35: exp2_q63 = 64'h9ab62afc94ff864a;
      36: exp2_q63 = 64'h9b8d39b9d54e5538;
      37: exp2_q63 = 64'h9c6573682ec32c2d;
      38: exp2_q63 = 64'h9d3ed9a72cffb750;
      39: exp2_q63 = 64'h9e196e189d472420;
      40: exp2_q63 = 64'h9ef5326091a111ad;
      41: exp2_q63 = 64'h9fd228256400dd05;
      42: exp2_q63 = 64'ha0b0510fb9714fc2;
      43: exp2_q63 = 64'ha18faeca8544b6e3;
      44: exp2_q63 = 64'ha27043030c496818;
      45: exp2_q63 = 64'ha3520f68e802bb92;
      46: exp2_q63 = 64'ha43515ae09e6809e;
      47: exp2_q63 = 64'ha5195786be9ef339;
      48: exp2_q63 = 64'ha5fed6a9b15138ea;
      49: exp2_q63 = 64'ha6e594cfeee86b1d;
      50: exp2_q63 = 64'ha7cd93b4e9653569;
      51: exp2_q63 = 64'ha8b6d5167b320e08;
      52: exp2_q63 = 64'ha9a15ab4ea7c0ef8;
      53: exp2_q63 = 64'haa8d2652ec907629;
      54: exp2_q63 = 64'hab7a39b5a93ed337;
      55: exp2_q63 = 64'hac6896a4be3fe929;
      56: exp2_q63 = 64'had583eea42a14ac6;
      57: exp2_q63 = 64'hae493452ca35b80e;
      58: exp2_q63 = 64'haf3b78ad690a4374;
      59: exp2_q63 = 64'hb02f0dcbb6e04583;
      60: exp2_q63 = 64'hb123f581d2ac258f;
      61: exp2_q63 = 64'hb21a31a66618fe3b;
      62: exp2_q63 = 64'hb311c412a9112489;
      63: exp2_q63 = 64'hb40aaea2654b9840;
      64: exp2_q63 = 64'hb504f333f9de6484;
      65: exp2_q63 = 64'hb60093a85ed5f76b;
      66: exp2_q63 = 64'hb6fd91e328d17791;
      67: exp2_q63 = 64'hb7fbefca8ca41e7c;
      68: exp2_q63 = 64'hb8fbaf4762fb9ee9;
      69: exp2_q63 = 64'hb9fcd2452c0b9dea;
      70: exp2_q63 = 64'hbaff5ab2133e45fb;
      71: exp2_q63 = 64'hbc034a7ef2e9fb0c;
      72: exp2_q63 = 64'hbd08a39f580c36be;
      73: exp2_q63 = 64'hbe0f6809860993e2;
      74: exp2_q63 = 64'hbf1799b67a731082;
      75: exp2_q63 = 64'hc0213aa1f0d08db0;
      76: exp2_q63 = 64'hc12c4cca66709456;
      77: exp2_q63 = 64'hc238d2311e3d6672;
      78: exp2_q63 = 64'hc346ccda24976407;
      79: exp2_q63 = 64'hc4563ecc5334cb32;
      80: exp2_q63 = 64'hc5672a115506dadd;
      81: exp2_q63 = 64'hc67990b5aa245f79;
      82: exp2_q63 = 64'hc78d74c8abb9b15c;
      83: exp2_q63 = 64'hc8a2d85c8ffe2c45;
      84: exp2_q63 = 64'hc9b9bd866e2f27a2;
      85: exp2_q63 = 64'hcad2265e4290774d;
      86: exp2_q63 = 64'hcbec14fef2727c5c;
      87: exp2_q63 = 64'hcd078b86503dcdd1;
      88: exp2_q63 = 64'hce248c151f8480e3;
      89: exp2_q63 = 64'hcf4318cf191918c1;
      90: exp2_q63 = 64'hd06333daef2b2594;
      91: exp2_q63 = 64'hd184df6251699ac6;
      92: exp2_q63 = 64'hd2a81d91f12ae45a;
      93: exp2_q63 = 64'hd3ccf099859ac379;
      94: exp2_q63 = 64'hd4f35aabcfedfa1f;
      95: exp2_q63 = 64'hd61b5dfe9f9bce06;
      96: exp2_q63 = 64'hd744fccad69d6af4;
      97: exp2_q63 = 64'hd870394c6db32c84;
      98: exp2_q63 = 64'hd99d15c278afd7b5;
      99: exp2_q63 = 64'hdacb946f2ac9cc71;
      100: exp2_q63 = 64'hdbfbb797daf23755;
      101: exp2_q63 = 64'hdd2d818508324c20;
      102: exp2_q63 = 64'hde60f4825e0e9123;
      103: exp2_q63 = 64'hdf9612deb8f04420;
      104: exp2_q63 = 64'he0ccdeec2a94e111;
      105: exp2_q63 = 64'he2055afffe83d368;
      106: exp2_q63 = 64'he33f8972be8a5a51;
      107: exp2_q63 = 64'he47b6ca0373da88d;
      108: exp2_q63 = 64'he5b906e77c8348a8;
      109: exp2_q63 = 64'he6f85aaaee1fce22;
      110: exp2_q63 = 64'he8396a503c4bdc68;
      111: exp2_q63 = 64'he97c38406c4f8c56;
      112: exp2_q63 = 64'heac0c6e7dd24392e;
      113: exp2_q63 = 64'hec0718b64c1cbddc;
      114: exp2_q63 = 64'hed4f301ed9942b84;
      115: exp2_q63 = 64'hee990f980da3025b;
      116: exp2_q63 = 64'hefe4b99bdcdaf5cb;
      117: exp2_q63 = 64'hf13230a7ad094509;
      118: exp2_q63 = 64'hf281773c59ffb139;
      119: exp2_q63 = 64'hf3d28fde3a641a5a;
      120: exp2_q63 = 64'hf5257d152486cc2c;
      121: exp2_q63 = 64'hf67a416c733f846d;
      122: exp2_q63 = 64'hf7d0df730ad13bb8;
      123: exp2_q63 = 64'hf92959bb5dd4ba74;
      124: exp2_q63 = 64'hfa83b2db722a033a;
      125: exp2_q63 = 64'hfbdfed6ce5f09c48;
      126: exp2_q63 = 64'hfd3e0c0cf486c174;
      127: exp2_q63 = 64'hfe9e115c7b8f884b;
      default: exp2_q63 = 64'h0;
    endcase
  endfunction

  // LUT[f] = floor(2^P * 2^(f / 2^F) + 1/2)
  //        = floor((floor(2^63 * 2^(f/2^F)) + 2^(62-P)) / 2^(63-P))
  // (exact: adding an integer before the floor division commutes with the inner floor).
  function automatic logic [31:0] lut_value(input int f, input int frac_bits, input int lut_bits);
    logic [64:0] point;
    point = {1'b0, exp2_q63(f * (1 << (7 - frac_bits)))};
    point = point + (65'd1 << (62 - lut_bits));
    lut_value = 32'(point >> (63 - lut_bits));
  endfunction

  // Bits needed to hold the unsigned value v (at least 1).
  function automatic int bits_needed(input logic [63:0] v);
    bits_needed = 1;
    for (int i = 0; i < 64; i++) begin
      if (v[i]) begin
        bits_needed = i + 1;
      end
    end
  endfunction

  // Width of a LUT entry: the largest entry is LUT[2^F - 1] (the table increases with f).
  function automatic int lut_width(input int frac_bits, input int lut_bits);
    lut_width = bits_needed({32'd0, lut_value((1 << frac_bits) - 1, frac_bits, lut_bits)});
  endfunction

  // The largest product shift q = (2 * (2^(W-1) - 1)) >> F.
  function automatic int max_shift(input int width, input int frac_bits);
    max_shift = (2 * ((1 << (width - 1)) - 1)) >> frac_bits;
  endfunction

  // Width of q = t >> F, where t = ma + mb is a W-bit sum.
  function automatic int shift_width(input int width, input int frac_bits);
    shift_width = width - frac_bits;
  endfunction

  // Width of the product magnitude LUT[f] << q (LBFP8: 9 + 15 = 24 bits).
  function automatic int product_width(input int width, input int frac_bits, input int lut_bits);
    product_width = lut_width(frac_bits, lut_bits) + max_shift(width, frac_bits);
  endfunction

  // The requantizer's boundary constant j: floor(2^((2j+1) / 2^(F+1)) * 2^(A-1)), A <= 64
  // (exact: it is floor(floor(2^63 * 2^((2j+1)/2^(F+1))) / 2^(64-A))).
  function automatic logic [63:0] requant_boundary(input int j, input int frac_bits,
                                                   input int acc_bits);
    requant_boundary = exp2_q63((2 * j + 1) * (1 << (6 - frac_bits))) >> (64 - acc_bits);
  endfunction

  // Bits of an index in [0, n) (at least 1, so that a single-entry index is still a vector).
  function automatic int index_width(input int n);
    index_width = (n > 1) ? $clog2(n) : 1;
  endfunction

endpackage
