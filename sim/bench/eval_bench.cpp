// The FP32 pass of `lbfp eval`'s engine (lbfp::eval::run_fp32, images split over THREADS threads)
// over the first N test images, timed
// the way sim/bench/eval_ort.js times ONNX Runtime on the same images: inputs built before the
// clock, one untimed warm-up batch, then every batch. Prints one line
// "lbfp <model> images=N threads=T seconds=S images_per_s=R top1=P cpu_seconds=C" (C: user +
// system time of the process over the timed batches; on shared cores the fairer figure) and, with a fourth argument,
// writes the predicted class of every image, one per line (compared with ONNX Runtime's by
// sim/bench/eval_vs_ort.sh).
// Usage: lbfp_eval_bench MODEL.onnx DATA THREADS [IMAGES [BATCH [PREDICTIONS]]]
//        lbfp_eval_bench --data-dir DATA   (the folder a data set name resolves to)
// LBFP_EVAL_BENCH_LAYERS=1 adds each layer's time, shapes, kernel, stride and groups.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/inference.h"
#include "lbfp/eval/graph.h"

static double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--data-dir") {
    // Where a data set name resolves to (eval_vs_ort.sh hands the folder to ONNX Runtime).
    std::printf("%s\n", lbfp::eval::dataset_dir(argv[2]).c_str());
    return 0;
  }
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: %s MODEL.onnx DATA THREADS [IMAGES [BATCH [PREDICTIONS]]]\n", argv[0]);
    return 2;
  }
  try {
    namespace ev = lbfp::eval;
    const ev::Graph g = ev::load_onnx(argv[1]);
    const ev::Dataset test = ev::load_dataset(argv[2], ev::Split::kTest);
    const int threads = std::atoi(argv[3]);
    const size_t wanted = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : test.size();
    const size_t images = std::min(wanted, test.size());
    const size_t batch = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 200;
    if (threads < 1 || batch < 1 || images < 1) {
      std::fprintf(stderr, "threads, images and batch must be >= 1\n");
      return 2;
    }
    ev::check_model_fits(g, test);
    std::vector<std::vector<float>> inputs;
    for (size_t first = 0; first < images; first += batch) {
      inputs.push_back(ev::to_float_input(test, first, std::min(batch, images - first)));
    }
    const size_t px = test.rows * test.cols;
    const size_t classes = 10;
    const auto nthreads = static_cast<size_t>(threads);
    // lbfp eval's FP32 pass where only the predictions are wanted (--format fp32): the output
    // and the scratch tensors reused by every batch, every tensor checked for values that are
    // not finite.
    std::vector<float> output;
    ev::Fp32Scratch scratch;
    size_t not_finite = 0;
    auto pass = [&](const std::vector<float>& in) {
      not_finite += ev::run_fp32_output_into(g, in, in.size() / px, output, scratch, nthreads)
                        .tensor >= 0;
    };
    pass(inputs[0]);  // warm-up
    std::vector<size_t> predicted;
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = cpu_seconds();
    for (const auto& in : inputs) {
      pass(in);
      const auto p = ev::top1(output, classes);
      predicted.insert(predicted.end(), p.begin(), p.end());
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = cpu_seconds() - cpu_start;
    if (std::getenv("LBFP_EVAL_BENCH_LAYERS")) {
      // Per layer: each node's share of one more pass, timed between the hook's calls.
      std::vector<double> per_tensor(g.tensor_names.size(), 0.0);
      auto last = std::chrono::steady_clock::now();
      const ev::Fp32Hook hook = [&](int tensor, std::vector<float>&) {
        const auto now = std::chrono::steady_clock::now();
        per_tensor[static_cast<size_t>(tensor)] +=
            std::chrono::duration<double>(now - last).count();
        last = now;
      };
      for (const auto& in : inputs) {
        last = std::chrono::steady_clock::now();
        (void)ev::run_fp32(g, in, in.size() / px, nullptr, hook, nthreads);
      }
      for (const auto& n : g.nodes) {
        std::string shape = g.tensor_shapes[static_cast<size_t>(n.inputs[0])].str() + " -> " +
                            g.tensor_shapes[static_cast<size_t>(n.output)].str();
        if (n.kind == ev::OpKind::kConv) {
          shape += " k" + std::to_string(n.kernel_h) + "x" + std::to_string(n.kernel_w) + " s" +
                   std::to_string(n.stride_h) + " g" + std::to_string(n.groups);
        }
        std::printf("  %-28s %-14s %8.3f s  %s\n", n.name.c_str(), ev::to_string(n.kind),
                    per_tensor[static_cast<size_t>(n.output)], shape.c_str());
      }
    }
    if (not_finite) {
      std::fprintf(stderr, "lbfp_eval_bench: %zu batches with FP32 values that are not finite\n",
                   not_finite);
      return 1;
    }
    size_t right = 0;
    for (size_t i = 0; i < images; ++i) right += predicted[i] == test.labels[i];
    if (argc > 6) {
      std::ofstream out(argv[6]);
      for (size_t p : predicted) out << p << "\n";
    }
    std::printf("lbfp %s images=%zu threads=%d seconds=%.3f images_per_s=%.0f top1=%.2f "
                "cpu_seconds=%.3f\n",
                std::filesystem::path(argv[1]).stem().string().c_str(), images, threads, seconds,
                static_cast<double>(images) / seconds,
                100.0 * static_cast<double>(right) / static_cast<double>(images), cpu);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lbfp_eval_bench: %s\n", e.what());
    return 2;
  }
}
