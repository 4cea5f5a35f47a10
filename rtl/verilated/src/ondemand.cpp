#include "lbfp/rtl/ondemand.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "ondemand_files.h"

namespace lbfp::rtl {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSetupHint = "run scripts/setup.sh to install Verilator and a C++ compiler";
constexpr const char* kLibrary = "model.so";
constexpr const char* kManifest = "manifest.txt";
constexpr int kLogTailLines = 20;

// The Verilog module of `top`, and the shim's flag that selects its port list.
const char* top_module(OnDemandTop top) {
  return top == OnDemandTop::kWeightStationary ? "systolic_array_ws" : "systolic_array";
}
const char* shim_define(OnDemandTop top) {
  return top == OnDemandTop::kWeightStationary ? " -DLBFP_WS_ARRAY=1" : "";
}

// FNV-1a, 64 bits: a cache key and a check of a cached file, not a defence against an attacker.
class Hash {
 public:
  void add(const std::string& text) {
    for (const char c : text) {
      value_ ^= static_cast<unsigned char>(c);
      value_ *= 0x100000001b3ULL;
    }
    // A separator, so that ("ab", "c") and ("a", "bc") differ.
    value_ ^= 0xff;
    value_ *= 0x100000001b3ULL;
  }
  std::string hex() const {
    char text[17];
    std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value_));
    return text;
  }

 private:
  uint64_t value_ = 0xcbf29ce484222325ULL;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw ModelBuildError("cannot write " + path.string());
}

std::string quote(const std::string& text) {
  std::string q = "'";
  for (const char c : text) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The first line a command prints, or empty when it fails.
std::string command_output(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buffer[256];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  if (::pclose(pipe) != 0) return "";
  const size_t end = out.find('\n');
  return end == std::string::npos ? out : out.substr(0, end);
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return "";
}

std::string log_tail(const fs::path& log) {
  std::ifstream in(log);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > kLogTailLines) lines.pop_front();
  }
  std::string text;
  for (const std::string& l : lines) text += "  " + l + "\n";
  return text;
}

// An exclusive lock on a file, held while the object lives.
class FileLock {
 public:
  FileLock(const fs::path& path, const std::function<void(const std::string&)>& progress) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw ModelBuildError("cannot create the lock file " + path.string());
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      progress("waiting for another process building the same RTL model (" + path.string() + ")");
      if (::flock(fd_, LOCK_EX) != 0) {
        ::close(fd_);
        throw ModelBuildError("cannot lock " + path.string());
      }
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock() { ::close(fd_); }  // closing releases the lock

 private:
  int fd_ = -1;
};

struct Toolchain {
  std::string verilator;
  std::string verilator_version;
  std::string verilator_root;
  std::string compiler;
  std::string compiler_version;
};

Toolchain find_toolchain() {
  Toolchain t;
  t.verilator = find_program("verilator");
  if (t.verilator.empty()) {
    throw ModelBuildError("this array configuration must be verilated on first use, but "
                          "`verilator` is not on PATH; " + std::string(kSetupHint));
  }
  const char* cxx = std::getenv("CXX");
  for (const std::string& name : {std::string(cxx != nullptr ? cxx : ""), std::string("c++"),
                                 std::string("g++"), std::string("clang++")}) {
    if (!name.empty() && !(t.compiler = find_program(name)).empty()) break;
  }
  if (t.compiler.empty()) {
    throw ModelBuildError("this array configuration must be compiled on first use, but no C++ "
                          "compiler (c++, g++ or clang++) is on PATH; " + std::string(kSetupHint));
  }
  t.verilator_version = command_output(quote(t.verilator) + " --version");
  t.verilator_root = command_output(quote(t.verilator) + " --getenv VERILATOR_ROOT");
  t.compiler_version = command_output(quote(t.compiler) + " --version");
  if (t.verilator_version.empty() || t.verilator_root.empty() ||
      !fs::exists(fs::path(t.verilator_root) / "include" / "verilated.cpp")) {
    throw ModelBuildError("`" + t.verilator + "` does not run or has no runtime sources (" +
                          t.verilator_root + "/include/verilated.cpp); " + kSetupHint);
  }
  return t;
}

// The key of a configuration: everything that goes into its shared object.
std::string cache_key(OnDemandTop top, const std::vector<std::string>& parameters,
                      const Toolchain& t) {
  Hash h;
  h.add("lbfp on-demand array model 1");
  h.add(top_module(top));
  for (const EmbeddedFile& f : ondemand_files()) {
    h.add(f.name);
    h.add(f.text);
  }
  for (const std::string& p : parameters) h.add(p);
  h.add(t.verilator_version);
  h.add(t.compiler_version);
  return h.hex();
}

// The manifest's `library_hash` against the shared object's content.
bool entry_intact(const fs::path& entry) {
  std::ifstream manifest(entry / kManifest);
  std::string line;
  std::string recorded;
  while (std::getline(manifest, line)) {
    if (line.rfind("library_hash=", 0) == 0) recorded = line.substr(13);
  }
  if (recorded.empty() || !fs::exists(entry / kLibrary)) return false;
  Hash h;
  h.add(read_file(entry / kLibrary));
  return h.hex() == recorded;
}

std::string elapsed(std::chrono::steady_clock::time_point since) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::steady_clock::now() - since)
                     .count();
  return std::to_string(s) + " s";
}

// Runs `command` with its output appended to `log`; throws with the log's tail when it fails.
void run_step(const std::string& command, const fs::path& log, const fs::path& failed_log) {
  {
    std::ofstream out(log, std::ios::app);
    out << "$ " << command << "\n";
  }
  if (std::system((command + " >>" + quote(log.string()) + " 2>&1").c_str()) != 0) {
    throw ModelBuildError("building the RTL model failed; log: " + failed_log.string() +
                          "\nlast lines:\n" + log_tail(log));
  }
}

void build(const fs::path& dir, OnDemandTop top, const std::vector<std::string>& parameters,
           const Toolchain& t, const fs::path& failed_log,
           const std::function<void(const std::string&)>& progress) {
  const auto started = std::chrono::steady_clock::now();
  const fs::path log = dir / "build.log";
  std::string sources;
  for (const EmbeddedFile& f : ondemand_files()) {
    write_file(dir / f.name, f.text);
    if (f.name.rfind("rtl/", 0) == 0 && f.name.size() > 3 &&
        f.name.compare(f.name.size() - 3, 3, ".sv") == 0) {
      sources += " " + quote((dir / f.name).string());
    }
  }
  std::string gparams;
  for (const std::string& p : parameters) gparams += " " + quote("-G" + p);
  const fs::path obj = dir / "obj";
  progress("[1/3] verilating (" + t.verilator_version + ")");
  run_step(quote(t.verilator) + " --cc -O3 --x-assign fast --x-initial fast --assert --trace-fst" +
               " -I" + quote((dir / "rtl").string()) + " --top-module " + top_module(top) +
               " --prefix Vtop -Mdir " + quote(obj.string()) + gparams + sources,
           log, failed_log);

  // Every generated file, Verilator's runtime and the glue, compiled in parallel.
  const std::string root = t.verilator_root + "/include";
  std::vector<std::pair<fs::path, std::string>> units;  // source, extra flags
  for (const auto& e : fs::directory_iterator(obj)) {
    if (e.path().extension() == ".cpp") units.emplace_back(e.path(), "");
  }
  for (const char* runtime : {"verilated.cpp", "verilated_fst_c.cpp", "verilated_threads.cpp"}) {
    units.emplace_back(fs::path(root) / runtime, "");
  }
  units.emplace_back(dir / "glue" / "ondemand_shim.cpp",
                     " -DLBFP_TOP=Vtop '-DLBFP_TOP_HEADER=\"Vtop.h\"'" +
                         std::string(shim_define(top)) + " -I" + quote((dir / "glue").string()));
  const std::string flags = " -std=c++17 -fPIC -O2 -w -faligned-new -DVM_COVERAGE=0 -DVM_SC=0"
                            " -DVM_TRACE=1 -DVM_TRACE_FST=1 -DVM_TRACE_VCD=0 -I" +
                            quote(obj.string()) + " -I" + quote(root) + " -I" +
                            quote(root + "/vltstd");
  progress("[2/3] compiling " + std::to_string(units.size()) + " files (" + elapsed(started) +
           ")");
  std::vector<std::string> objects(units.size());
  std::atomic<size_t> next{0};
  std::atomic<size_t> done{0};
  std::mutex mutex;
  std::string error;
  const unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < jobs; ++w) {
    workers.emplace_back([&] {
      for (size_t i = next++; i < units.size(); i = next++) {
        const fs::path object = dir / "o" / (std::to_string(i) + ".o");
        const fs::path unit_log = dir / "o" / (std::to_string(i) + ".log");
        objects[i] = object.string();
        try {
          fs::create_directories(object.parent_path());
          run_step(quote(t.compiler) + flags + units[i].second + " -c " +
                       quote(units[i].first.string()) + " -o " + quote(object.string()),
                   unit_log, failed_log);
        } catch (const ModelBuildError& e) {
          const std::lock_guard<std::mutex> lock(mutex);
          if (error.empty()) error = e.what();
        }
        const std::lock_guard<std::mutex> lock(mutex);
        std::ofstream(log, std::ios::app) << read_file(unit_log);
        progress("      compiled " + std::to_string(++done) + "/" +
                 std::to_string(units.size()) + " (" + elapsed(started) + ")");
      }
    });
  }
  for (std::thread& w : workers) w.join();
  if (!error.empty()) throw ModelBuildError(error);

  progress("[3/3] linking");
  write_file(dir / "exports.map", "{ global: lbfp_array_*; local: *; };\n");
  std::string link = quote(t.compiler) + " -shared -o " + quote((dir / kLibrary).string());
  for (const std::string& o : objects) link += " " + quote(o);
  link += " -Wl,--version-script=" + quote((dir / "exports.map").string()) + " -lz -pthread";
  run_step(link, log, failed_log);

  Hash h;
  h.add(read_file(dir / kLibrary));
  std::string manifest = "verilator=" + t.verilator_version + "\ncompiler=" +
                         t.compiler_version + "\ntop=" + top_module(top) + "\n";
  for (const std::string& p : parameters) manifest += "parameter=" + p + "\n";
  manifest += "library_hash=" + h.hex() + "\n";
  write_file(dir / kManifest, manifest);
  // Sources and objects are not needed once linked; the log stays.
  fs::remove_all(dir / "o");
  fs::remove_all(obj);
  progress("built in " + elapsed(started));
}

}  // namespace

std::string default_rtl_cache() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && *xdg == '/') return (fs::path(xdg) / "lbfp" / "rtl").string();
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') {
    return (fs::path(home) / ".cache" / "lbfp" / "rtl").string();
  }
  return (fs::temp_directory_path() / "lbfp-rtl-cache").string();
}

OnDemandModel ensure_array_model(const std::vector<std::string>& parameters,
                                 const std::string& cache_dir,
                                 const std::function<void(const std::string&)>& progress,
                                 OnDemandTop top) {
  const fs::path cache = cache_dir.empty() ? fs::path(default_rtl_cache()) : fs::path(cache_dir);
  std::error_code ec;
  fs::create_directories(cache, ec);
  if (ec) throw ModelBuildError("cannot create the RTL cache " + cache.string() + ": " + ec.message());

  // The key needs the toolchain's versions (cheap: `--version`); without a toolchain, an index
  // of configuration -> the key last built for it finds the entry.
  std::string config_id = std::string(top_module(top)) + ";";
  for (const std::string& p : parameters) config_id += p + ";";
  Hash ch;
  ch.add(config_id);
  for (const EmbeddedFile& f : ondemand_files()) ch.add(f.text);
  const fs::path index = cache / ("config-" + ch.hex());

  OnDemandModel model;
  FileLock lock(cache / ("config-" + ch.hex() + ".lock"), progress);
  std::optional<Toolchain> toolchain;
  try {
    toolchain = find_toolchain();
  } catch (const ModelBuildError&) {
    // Without a toolchain, the entry last built for this configuration still serves.
    const std::string indexed_key = fs::exists(index) ? read_file(index) : "";
    if (indexed_key.empty() || !entry_intact(cache / indexed_key)) throw;
    model.key = indexed_key;
  }
  if (toolchain) {
    model.key = cache_key(top, parameters, *toolchain);
    const fs::path entry = cache / model.key;
    if (!entry_intact(entry)) {
      if (fs::exists(entry)) {
        progress("the cached RTL model " + entry.string() + " is damaged: rebuilding it");
        fs::remove_all(entry, ec);
      }
      const fs::path tmp = cache / (model.key + ".tmp-" + std::to_string(::getpid()));
      const fs::path failed = cache / (model.key + ".failed");
      fs::remove_all(tmp, ec);
      fs::create_directories(tmp);
      progress("verilating this array configuration into " + entry.string() +
               " (first use; later runs reuse it)");
      try {
        build(tmp, top, parameters, *toolchain, failed / "build.log", progress);
      } catch (const ModelBuildError&) {
        fs::remove_all(failed, ec);
        fs::rename(tmp, failed, ec);
        throw;
      }
      fs::rename(tmp, entry);  // complete, or absent: readers never see a half-written one
      model.built = true;
    }
    write_file(cache / ("config-" + ch.hex() + ".tmp"), model.key);
    fs::rename(cache / ("config-" + ch.hex() + ".tmp"), index);
  }
  model.directory = (cache / model.key).string();
  model.library = (cache / model.key / kLibrary).string();
  return model;
}

}  // namespace lbfp::rtl
