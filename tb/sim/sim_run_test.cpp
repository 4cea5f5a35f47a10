// Whole `lbfp sim` runs, in-process (ctest runs each test in a process of its own).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <sys/resource.h>

#include "golden.h"
#include "lbfp/arch/report.h"
#include "lbfp/arch/scaled_layers.h"
#include "lbfp/arch/simulate.h"
#include "sim_command.h"

namespace lbfp::cli {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("lbfp_sim_test_" + name + "_" +
                                                    std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

TEST(SimRun, Lbfp8AndBfp8TakeTheSameCyclesAndDifferentEnergy) {
  const fs::path out = fresh_dir("both");
  SimOptions o;
  o.arch = LBFP_SOURCE_DIR "/configs/arch/lbfp8_16x16.yaml";
  o.workload = LBFP_SOURCE_DIR "/sim/workloads/lenet5.csv";
  o.format = "both";
  o.out = out.string();
  o.progress = false;
  std::ostringstream text, err;
  ASSERT_EQ(run_sim(o, text, err), 0) << err.str();
  EXPECT_NE(text.str().find("lbfp8 / bfp8: cycles 1.000x"), std::string::npos) << text.str();

  const nlohmann::json j = nlohmann::json::parse(slurp(out / "summary.json"));
  const auto& l = j["formats"]["lbfp8"];
  const auto& b = j["formats"]["bfp8"];
  // Same array, dataflow and code width: the same cycles and traffic.
  EXPECT_EQ(l["total_cycles"], b["total_cycles"]);
  EXPECT_EQ(l["dram_bytes_read"], b["dram_bytes_read"]);
  EXPECT_EQ(l["macs"].get<uint64_t>(), 416520u);
  // Different multipliers: different energy, and the LBFP8 datapath is the cheaper one.
  EXPECT_LT(l["energy_pj"]["multiply"].get<double>(), b["energy_pj"]["multiply"].get<double>());
  EXPECT_NE(l["energy_pj"]["total"].get<double>(), b["energy_pj"]["total"].get<double>());
  const double ratio = j["ratios"]["multiplier_energy"].get<double>();
  EXPECT_NEAR(ratio,
              l["energy_pj"]["multiply"].get<double>() / b["energy_pj"]["multiply"].get<double>(),
              1e-9);
  // Every estimate states its units and sources.
  EXPECT_EQ(j["energy_table"]["units"], "pJ");
  EXPECT_FALSE(j["energy_table"]["sources"]["dram_read_byte"].get<std::string>().empty());
  EXPECT_NE(j["simulation"]["data"].get<std::string>().find("seed 1"), std::string::npos);
  // The energy components add up.
  const auto& e = l["energy_pj"];
  EXPECT_NEAR(e["total"].get<double>(),
              e["multiply"].get<double>() + e["accumulate"].get<double>() +
                  e["requantize"].get<double>() + e["sram"].get<double>() +
                  e["dram"].get<double>() + e["leakage"].get<double>(),
              1e-6 * e["total"].get<double>());

  const std::string csv = slurp(out / "layers.csv");
  EXPECT_EQ(csv.rfind("format,layer,shape,", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 2 * 5);  // header + 5 layers x 2
  const std::string svg = slurp(out / "plot.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("C3"), std::string::npos);
  fs::remove_all(out);
}

// simulate() again in one process (lbfp.sim.run in Python does this): each call after the first
// gets a fresh SystemC context. Another array in cycle mode, a layer refused once its
// accelerator is built, then the first inputs again, which report byte for byte what they did.
TEST(SimRun, SimulationsFollowEachOtherInOneProcess) {
  arch::SimulationRequest r;
  r.workload = "gemm:40,24,56";
  r.format = "lbfp8";
  r.overrides = {"array.rows=4", "array.cols=4"};
  const arch::SimReport first = arch::simulate(r);
  arch::SimulationRequest other = r;
  other.overrides = {"array.rows=8", "array.cols=8"};
  other.mode = "cycle";
  other.dataflow = "ws";
  const arch::SimReport second = arch::simulate(other);
  arch::SimulationRequest refused = r;
  refused.workload = "gemm:902,1,1160";
  refused.overrides = {"dram.size_mib=1"};
  try {
    arch::simulate(refused);
    ADD_FAILURE() << "a layer larger than the DRAM was simulated";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("the DRAM has"), std::string::npos) << e.what();
  }
  const arch::SimReport again = arch::simulate(r);
  EXPECT_EQ(arch::layers_csv(again), arch::layers_csv(first));
  EXPECT_EQ(arch::summary_json(again), arch::summary_json(first));
  ASSERT_EQ(first.runs.size(), 1u);
  ASSERT_EQ(second.runs.size(), 1u);
  EXPECT_GT(first.runs[0].total.total_cycles, 0u);
  EXPECT_NE(second.runs[0].total.total_cycles, first.runs[0].total.total_cycles);
  EXPECT_EQ(second.runs[0].total.macs, first.runs[0].total.macs);
}

// The CPU time of the threads that made the data: more than none, and no more than the whole
// process took during the call (every thread's time, the data threads' included). A format of
// spec section 13 makes its data on the calling thread, counted the same way. `lbfp sim`
// prints it at the end of its time split.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

TEST(SimRun, TheTimeSplitCountsTheDataThreadsCpuTime) {
  // The default run (ResNet-18, both formats: data threads busy through the simulation), and
  // LeNet-5 in MXINT8.
  for (const char* format : {"both", "mxint8"}) {
    SCOPED_TRACE(format);
    arch::SimulationRequest r;
    r.format = format;
    if (r.format == "mxint8") r.workload = LBFP_SOURCE_DIR "/sim/workloads/lenet5.csv";
    const double before = process_cpu_seconds();
    const arch::SimReport report = arch::simulate(r);
    const double used = process_cpu_seconds() - before;
    EXPECT_GT(report.data_cpu_seconds, 0.0);
    EXPECT_LE(report.data_cpu_seconds, used + 1e-3);  // (getrusage counts microseconds)
  }
  SimOptions o;
  o.workload = "gemm:40,50,60";
  o.format = "lbfp8";
  o.progress = false;
  std::ostringstream text, err;
  ASSERT_EQ(run_sim(o, text, err), 0) << err.str();
  EXPECT_NE(err.str().find("; the data's CPU time "), std::string::npos) << err.str();
}

TEST(SimRun, CycleModeAndTileModeAgree) {
  // Two formats in one process is the only way to run two accelerators; the cycle and tile
  // modes are compared layer by layer by the arch tests, here through the whole front end.
  const fs::path out = fresh_dir("cycle");
  SimOptions o;
  o.arch = LBFP_SOURCE_DIR "/configs/arch/lbfp8_16x16.yaml";
  o.workload = "gemm:40,50,60";
  o.format = "lbfp8";
  o.mode = "cycle";
  o.out = out.string();
  o.progress = false;
  o.overrides = {"array.rows=4", "array.cols=4"};
  std::ostringstream text, err;
  ASSERT_EQ(run_sim(o, text, err), 0) << err.str();
  const nlohmann::json j = nlohmann::json::parse(slurp(out / "summary.json"));
  // 10 x 13 tiles of K = 60 on a 4 x 4 array (N = 1): at least a perfect stream, one isolated
  // tile (K + 2R + C + N = 73) then K = 60 per tile (the reduction sets the pace), at most every
  // tile on its own.
  const auto compute = j["formats"]["lbfp8"]["compute_cycles"].get<uint64_t>();
  EXPECT_GE(compute, 73u + (10u * 13u - 1u) * 60u);
  EXPECT_LE(compute, 10u * 13u * 73u);
  fs::remove_all(out);
}

// A waveform of the tile mode shows the controller's state as the cycle mode's does, cycle for
// cycle: the tile mode stops for every array event while traced (where nothing waits for an
// event in its cycle it otherwise reports it at its next stop). Each dataflow, with the K
// split into chunks and folds (chains of folds, resumed partial sums) and buffers that make
// the loads wait for slots.
std::string waveform(const std::string& dataflow, const std::string& mode, const fs::path& dir) {
  arch::SimulationRequest r;
  r.workload = "gemm:70,45,300";
  r.format = "lbfp8";
  r.mode = mode;
  r.dataflow = dataflow;
  r.overrides = {"array.rows=4", "array.cols=4", "buffers.activation_kib=1",
                 "buffers.weight_kib=1", "buffers.psum_kib=1"};
  r.trace = (dir / (dataflow + "_" + mode + ".vcd")).string();
  arch::simulate(r);
  std::string vcd = slurp(r.trace);
  const size_t date = vcd.find("$date");
  const size_t end = vcd.find("$end", date);
  if (date != std::string::npos && end != std::string::npos) vcd.erase(date, end - date);
  return vcd;
}

TEST(SimRun, TheTileModesWaveformIsTheCycleModes) {
  const fs::path dir = fresh_dir("waveform");
  fs::create_directories(dir);
  for (const std::string dataflow : {"os", "ws", "is"}) {
    SCOPED_TRACE(dataflow);
    const std::string tile = waveform(dataflow, "tile", dir);
    const std::string cycle = waveform(dataflow, "cycle", dir);
    // Not an empty trace: hundreds of time steps with changes.
    EXPECT_GT(std::count(tile.begin(), tile.end(), '#'), 300) << tile.substr(0, 2000);
    EXPECT_TRUE(tile == cycle) << "the waveforms differ (" << dir << ")";
  }
  fs::remove_all(dir);
}

// The formats of spec section 13 through simulate(): each run names its format, prices its
// datapath with its own section of the synthesis table (MX with its element type's), writes MX
// outputs as FP32 and keeps the summary's schema. The expected constants are the table's
// numbers (configs/energy/osu018_synth.yaml), typed here: the 45 nm table's bfp_multiply times
// the format's mul_pj (and mac_pj - mul_pj) over BFP8's mul_pj.
TEST(SimRun, SectionThirteenFormatsRunPricedByTheirTableEntries) {
  struct Case {
    const char* format;
    const char* section;
    double mul_pj, mac_pj;  // the synthesis table's
    bool mx;
  } cases[] = {{"int8", "int8", 10.33354, 26.60796, false},
               {"fp8-e4m3", "fp8_e4m3", 8.68889, 24.96110, false},
               {"fp8-e5m2", "fp8_e5m2", 8.39210, 29.69223, false},
               {"mxint8", "int8", 10.33354, 26.60796, true},
               {"mxfp8-e4m3", "fp8_e4m3", 8.68889, 24.96110, true},
               {"mxfp8-e5m2", "fp8_e5m2", 8.39210, 29.69223, true}};
  constexpr double kBfp8MulPj = 10.40190;
  arch::SimulationRequest r;
  r.workload = LBFP_SOURCE_DIR "/sim/workloads/lenet5.csv";
  r.format = "lbfp8";
  const arch::SimReport lbfp_report = arch::simulate(r);
  const nlohmann::json lbfp = nlohmann::json::parse(arch::summary_json(lbfp_report));
  const nlohmann::json& lbfp_run = lbfp["formats"]["lbfp8"];
  // The datapath by name or by LBFP's flag: the same energy.
  const arch::LayerStats& first = lbfp_report.runs.at(0).layers.at(0).stats;
  const arch::BufferConfig& buffers = lbfp_report.arch.accel.buffers;
  EXPECT_EQ(arch::layer_energy(first, true, lbfp_report.energy, buffers).total_pj(),
            arch::layer_energy_for(first, "lbfp", lbfp_report.energy, buffers).total_pj());
  EXPECT_EQ(arch::layer_energy(first, false, lbfp_report.energy, buffers).total_pj(),
            arch::layer_energy_for(first, "bfp", lbfp_report.energy, buffers).total_pj());
  for (const Case& c : cases) {
    SCOPED_TRACE(c.format);
    r.format = c.format;
    const arch::SimReport report = arch::simulate(r);
    ASSERT_EQ(report.runs.size(), 1u);
    const arch::FormatRun& run = report.runs[0];
    EXPECT_EQ(run.format, c.format);
    const double anchor = report.energy.at("bfp_multiply");
    const double mul = report.energy.at(std::string(c.section) + "_multiply");
    const double acc = report.energy.at(std::string(c.section) + "_accumulate");
    EXPECT_NEAR(mul, anchor * c.mul_pj / kBfp8MulPj, 1e-12 * mul);
    EXPECT_NEAR(acc, anchor * (c.mac_pj - c.mul_pj) / kBfp8MulPj, 1e-12 * acc);
    EXPECT_NEAR(run.energy.multiply_pj, static_cast<double>(run.total.multiplies) * mul,
                1e-9 * run.energy.multiply_pj);
    EXPECT_NEAR(run.energy.accumulate_pj, static_cast<double>(run.total.accumulates) * acc,
                1e-9 * run.energy.accumulate_pj);
    EXPECT_EQ(run.total.macs, lbfp_run["macs"].get<uint64_t>());
    uint64_t outputs = 0;
    for (const arch::LayerResult& l : run.layers) outputs += l.stats.m * l.stats.n;
    EXPECT_EQ(run.total.dram_bytes_written, outputs * (c.mx ? 4 : 1));
    // The summary: the same fields as an LBFP8 run's, the energy entries with their source.
    const nlohmann::json j = nlohmann::json::parse(arch::summary_json(report));
    ASSERT_TRUE(j["formats"].contains(c.format));
    for (const auto& [key, value] : lbfp_run.items()) {
      EXPECT_TRUE(j["formats"][c.format].contains(key)) << key;
    }
    EXPECT_NE(j["energy_table"]["sources"][std::string(c.section) + "_multiply"]
                  .get<std::string>()
                  .find("osu018_synth.yaml"),
              std::string::npos);
  }
  // LBFP8's summary lists no entry of these formats (its reports are byte for byte as before).
  EXPECT_FALSE(lbfp["energy_table"]["per_action_pj"].contains("int8_multiply"));
}

// The operands of a section 13 layer from the shared values, recomputed here from the golden
// reference's scale choice and encoders: MX codes and E8M0 scales per 32-channel block of each
// pixel (and of each weight row and tap), each output pixel's tap taking its input pixel's
// scales; INT8's multipliers from the tensor scales of the inputs and of each weight row.
TEST(SimRun, SectionThirteenLayerDataFollowsTheSpecScales) {
  LayerSpec spec;
  spec.name = "c";
  spec.is_conv = true;
  spec.ifmap_h = spec.ifmap_w = 6;
  spec.filter_h = spec.filter_w = 3;
  spec.channels = 40;
  spec.filters = 3;
  const LayerValues values = make_layer_values(spec, 9, 1 << 20);
  const ScaledFormat mx(ElementKind::kE4M3, ScaleKind::kMxBlock);
  const std::vector<arch::GemmLayer> g =
      arch::make_scaled_layer_data(spec, values, mx, Im2col::kChip);
  ASSERT_EQ(g.size(), 1u);
  const arch::ScaledLayer& s = *g[0].scaled;
  ASSERT_EQ(s.blocks, 2u);
  ASSERT_EQ(s.taps, 9u);
  const uint64_t hw = 36;
  std::vector<int> pixel_exps;
  for (uint64_t p = 0; p < hw; ++p) {
    for (uint64_t b = 0; b < 2; ++b) {
      std::vector<float> block;
      for (uint64_t c = 32 * b; c < std::min<uint64_t>(40, 32 * b + 32); ++c) {
        block.push_back(values.input[c * hw + p]);
      }
      const int e = mx_shared_exponent(mx, block.data(), block.size());
      pixel_exps.push_back(e);
      for (size_t i = 0; i < block.size(); ++i) {
        ASSERT_EQ(g[0].a[p * 40 + 32 * b + i], encode(mx, block[i], e)) << p << " " << i;
      }
    }
  }
  // Output pixel (1, 2), tap (2, 0): input pixel (3, 2).
  const uint64_t row = 1 * 4 + 2, tap = 2 * 3 + 0, pixel = 3 * 6 + 2;
  EXPECT_EQ(s.a_exps[(row * 9 + tap) * 2 + 1], pixel_exps[pixel * 2 + 1]);
  // Weight row 2, tap 4, block 1 (channels 32..39).
  std::vector<float> wb;
  for (uint64_t c = 32; c < 40; ++c) wb.push_back(values.weights[0][2 * 360 + c * 9 + 4]);
  const int we = mx_shared_exponent(mx, wb.data(), wb.size());
  EXPECT_EQ(s.w_exps[(2 * 9 + 4) * 2 + 1], we);
  EXPECT_EQ(g[0].w[2 * 360 + 35 * 9 + 4], encode(mx, wb[3], we));

  const ScaledFormat int8(ElementKind::kInt8, ScaleKind::kTensor);
  const std::vector<arch::GemmLayer> t =
      arch::make_scaled_layer_data(spec, values, int8, Im2col::kChip);
  float amax = 0.0f;
  for (float v : values.input) amax = std::max(amax, std::fabs(v));
  const float sa = tensor_scale(int8, amax);
  EXPECT_EQ(t[0].a[7], encode_scaled(int8, values.input[7 % 40 * hw + 7 / 40], sa));
  float wmax = 0.0f;
  for (uint64_t k = 0; k < 360; ++k) wmax = std::max(wmax, std::fabs(values.weights[0][360 + k]));
  const float sw = tensor_scale(int8, wmax);
  EXPECT_EQ(t[0].w[360 + 100], encode_scaled(int8, values.weights[0][360 + 100], sw));
  // M_j = fp32(fp32(sa sw_j) / so) with one output scale so: M_j / fp32(sa sw_j) the same for
  // every column (to FP32 rounding).
  std::vector<double> ratio;
  for (uint64_t j = 0; j < 3; ++j) {
    float mj = 0.0f;
    for (uint64_t k = 0; k < 360; ++k) mj = std::max(mj, std::fabs(values.weights[0][j * 360 + k]));
    const float swj = tensor_scale(int8, mj);
    ratio.push_back(t[0].scaled->multipliers[j] / static_cast<double>(sa * swj));
  }
  EXPECT_GT(ratio[0], 0.0);
  EXPECT_NEAR(ratio[1], ratio[0], 1e-6 * ratio[0]);
  EXPECT_NEAR(ratio[2], ratio[0], 1e-6 * ratio[0]);
}

TEST(SimRun, BadInputsExitWithStatus2AndWriteNothing) {
  const fs::path out = fresh_dir("bad");
  SimOptions o;
  o.arch = LBFP_SOURCE_DIR "/configs/arch/lbfp8_16x16.yaml";
  o.workload = "gemm:10,10,10";
  o.out = out.string();
  o.progress = false;
  // K is split to fit any buffer down to one K step of the array's rows: 2048 rows of one
  // code each do not fit 1 KiB.
  o.overrides = {"buffers.activation_kib=1", "array.rows=2048"};
  o.workload = "gemm:2048,8,8";
  std::ostringstream text, err;
  EXPECT_EQ(run_sim(o, text, err), kExitBadInput);
  EXPECT_NE(err.str().find("activation buffer"), std::string::npos) << err.str();
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace lbfp::cli
