#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "commands.h"
#include "golden.h"
#include "lbfp/arith.h"

namespace lbfp::cli {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

std::vector<std::string_view> split_whitespace(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// The message with control bytes of the input (a NUL, an escape) written as \xNN, so that an
// error about a binary line is one readable line on the terminal.
std::string printable(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += c;
    }
  }
  return out;
}

// A decimal number as Python's repr writes it (incl. inf, -inf, -0.0), parsed as double.
double parse_real(std::string_view token) {
  double value = 0.0;
  const char* first = token.data();
  const char* last = token.data() + token.size();
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (token.empty() || ptr != last) {
    throw std::invalid_argument(fmt::format("'{}' is not a decimal number", token));
  }
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves the value unset on overflow or underflow; strtod (C locale) rounds
    // those to +-HUGE_VAL or to zero / a subnormal with the right sign.
    value = std::strtod(std::string(token).c_str(), nullptr);
  } else if (ec != std::errc()) {
    throw std::invalid_argument(fmt::format("'{}' is not a decimal number", token));
  }
  if (std::isnan(value)) throw std::invalid_argument("NaN cannot be encoded");
  return value;
}

int64_t parse_integer(std::string_view token, const char* what) {
  int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (token.empty() || ec != std::errc() || ptr != token.data() + token.size()) {
    throw std::invalid_argument(fmt::format("'{}' is not a decimal {}", token, what));
  }
  return value;
}

template <class Format>
Code parse_code(const Format& format, std::string_view token) {
  std::string_view digits = token;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
  }
  unsigned value = 0;
  const auto [ptr, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), value, 16);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
    throw std::invalid_argument(fmt::format("'{}' is not a hexadecimal code", token));
  }
  check_code(format, value);  // names the code when it does not fit the format
  return static_cast<Code>(value);
}

template <class Format>
std::vector<Code> parse_code_list(const Format& format, std::string_view token) {
  std::vector<Code> codes;
  for (std::string_view item : split(token, ',')) codes.push_back(parse_code(format, item));
  return codes;
}

std::string product_text(const LbfpFormat& format, Code a, Code b) {
  return multiply(format, a, b).to_decimal();
}
std::string product_text(const BfpFormat& format, Code a, Code b) {
  return std::to_string(multiply(format, a, b));
}
std::string product_text(const ScaledFormat& format, Code a, Code b) {
  return to_decimal(multiply(format, a, b));
}

std::string integer_text(int64_t value) { return std::to_string(value); }
std::string integer_text(Int128 value) { return to_decimal(value); }

// A decimal integer in [-2^127, 2^127 - 1] (the industry formats' accumulators), parsed in
// unsigned arithmetic so that no step can overflow.
Int128 parse_wide_integer(std::string_view token, const char* what) {
  __extension__ typedef unsigned __int128 Uint128;
  const bool negative = !token.empty() && token.front() == '-';
  const std::string_view digits = negative ? token.substr(1) : token;
  const auto bad = [&] {
    return std::invalid_argument(fmt::format("'{}' is not a decimal {}", token, what));
  };
  if (digits.empty()) throw bad();
  const Uint128 bound = Uint128{1} << 127;  // the largest magnitude, of -2^127
  Uint128 value = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9' || value > bound / 10) throw bad();
    value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > bound) throw bad();
  }
  if (!negative && value == bound) throw bad();
  return static_cast<Int128>(negative ? Uint128{0} - value : value);
}

int required(const std::optional<int>& value, const char* option, const std::string& op) {
  if (!value) throw std::invalid_argument(fmt::format("golden {} needs {}", op, option));
  return *value;
}
double required_real(const std::optional<double>& value, const char* option,
                     const std::string& op) {
  if (!value) throw std::invalid_argument(fmt::format("golden {} needs {}", op, option));
  return *value;
}

template <class Format>
std::string run_line(const Format& format, const GoldenOptions& options, std::string_view line) {
  const std::string& op = options.operation;
  if (op == "encode") {
    // Python repr of a double, rounded to FP32 as the contract says.
    const auto x = static_cast<float>(parse_real(line));
    return fmt::format("0x{:02x}", encode(format, x, *options.exponent));
  }
  if (op == "decode") {
    return fmt::format("{:.17g}", decode(format, parse_code(format, line), *options.exponent));
  }
  if (op == "mul") {
    const auto tokens = split_whitespace(line);
    if (tokens.size() != 2) throw std::invalid_argument("expected two codes '0xAA 0xBB'");
    return product_text(format, parse_code(format, tokens[0]), parse_code(format, tokens[1]));
  }
  if (op == "dot") {
    const auto tokens = split_whitespace(line);
    if (tokens.size() != 2) {
      throw std::invalid_argument("expected two comma-separated code vectors 'a0,a1 b0,b1'");
    }
    const auto a = parse_code_list(format, tokens[0]);
    const auto b = parse_code_list(format, tokens[1]);
    if (a.size() != b.size()) {
      throw std::invalid_argument(
          fmt::format("vectors have different lengths {} and {}", a.size(), b.size()));
    }
    const auto r = dot(format, a, b);
    return fmt::format("{} {}", integer_text(r.acc), r.overflows);
  }
  if (op == "requant") {
    if constexpr (std::is_same_v<Format, ScaledFormat>) {
      const Int128 acc = parse_wide_integer(line, "accumulator");
      return fmt::format("0x{:02x}",
                         requantize(format, acc, *options.scale, *options.exponent, options.relu));
    } else {
      const int64_t acc = parse_integer(line, "accumulator");
      return fmt::format("0x{:02x}",
                         requantize(format, acc, *options.scale, *options.exponent, options.relu));
    }
  }
  if constexpr (std::is_same_v<Format, ScaledFormat>) {
    if (op == "encode-fp32") {
      const auto x = static_cast<float>(parse_real(line));
      return fmt::format("0x{:02x}", encode_scaled(format, x, static_cast<float>(*options.fp32_scale)));
    }
    if (op == "decode-fp32") {
      return fmt::format("{:.17g}", decode_scaled(format, parse_code(format, line),
                                                  static_cast<float>(*options.fp32_scale)));
    }
    if (op == "requant-fp32") {
      const Int128 acc = parse_wide_integer(line, "accumulator");
      const double m = requant_multiplier(format, static_cast<float>(*options.scale_a),
                                          static_cast<float>(*options.scale_b),
                                          static_cast<float>(*options.scale_out));
      return fmt::format("0x{:02x}", requantize_scaled(format, acc, m, options.relu));
    }
    if (op == "tensor-scale") {
      const float s = tensor_scale(format, static_cast<float>(parse_real(line)));
      return fmt::format("{:.9g}", s);  // 9 digits: the FP32 value exactly
    }
    if (op == "mx-scale") {
      std::vector<float> values;
      for (std::string_view item : split(line, ',')) {
        values.push_back(static_cast<float>(parse_real(item)));
      }
      if (values.size() > static_cast<size_t>(ScaledFormat::kMxBlockSize)) {
        throw std::invalid_argument(
            fmt::format("{} values: an MX block holds at most 32", values.size()));
      }
      return std::to_string(mx_shared_exponent(format, values.data(), values.size()));
    }
  }
  throw std::invalid_argument(fmt::format("unknown golden operation '{}'", op));
}

// The results are printed only once every line is valid, so they are held in memory: bounded,
// like each line, so that `lbfp golden ... < /dev/zero` ends in an error instead of filling it.
constexpr size_t kMaxLineBytes = size_t{16} << 20;
constexpr size_t kMaxResultBytes = size_t{1} << 30;

// std::getline with a bound: reads up to '\n' or EOF; a longer line sets `too_long` and keeps
// only its first kMaxLineBytes + 1 bytes (the rest is not read). False at the end of the input.
bool read_line(std::istream& in, std::string& line, bool& too_long) {
  line.clear();
  too_long = false;
  std::streambuf* buf = in.rdbuf();
  bool any = false;
  while (true) {
    const int c = buf->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return any;
    }
    any = true;
    if (c == '\n') return true;
    line.push_back(static_cast<char>(c));
    if (line.size() > kMaxLineBytes) {
      too_long = true;
      return true;
    }
  }
}

}  // namespace

NumberFormat parse_format(const std::string& name, std::optional<int> frac_bits,
                          std::optional<int> lut_bits, std::optional<int> acc_bits) {
  const bool is_lbfp = name.rfind("lbfp", 0) == 0;
  const bool is_bfp = !is_lbfp && name.rfind("bfp", 0) == 0;
  const std::string digits = name.substr(is_lbfp ? 4 : 3);
  int width = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), width);
  if ((!is_lbfp && !is_bfp) || digits.empty() || ec != std::errc() ||
      ptr != digits.data() + digits.size()) {
    throw std::invalid_argument(fmt::format(
        "unknown format '{}' (expected lbfp8, bfp8, or lbfpW / bfpW with W in 2..8)", name));
  }
  const int acc = acc_bits.value_or(32);
  if (is_bfp) {
    if (frac_bits || lut_bits) {
      throw std::invalid_argument("--frac-bits and --lut-bits apply to LBFP formats only");
    }
    return BfpFormat(width, acc);
  }
  return LbfpFormat(width, frac_bits.value_or(width / 2), lut_bits.value_or(8), acc);
}

GoldenFormat parse_golden_format(const std::string& name, std::optional<int> frac_bits,
                                 std::optional<int> lut_bits, std::optional<int> acc_bits) {
  if (scaled_format_named(name)) {
    if (frac_bits || lut_bits) {
      throw std::invalid_argument(
          fmt::format("--frac-bits and --lut-bits apply to LBFP formats only, not {}", name));
    }
    if (acc_bits && *acc_bits == 0) {  // 0 would select the default silently
      throw std::invalid_argument(fmt::format(
          "accumulator bits A=0 must be in 2..{} for {}", ScaledFormat::kMaxAccBits, name));
    }
    return *scaled_format_named(name, acc_bits.value_or(0));
  }
  if (name.rfind("lbfp", 0) != 0 && name.rfind("bfp", 0) != 0) {
    throw std::invalid_argument(fmt::format(
        "unknown format '{}' (expected lbfp8, bfp8, lbfpW / bfpW with W in 2..8, mxint8, "
        "mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2 or int8)",
        name));
  }
  return std::visit([](const auto& f) -> GoldenFormat { return f; },
                    parse_format(name, frac_bits, lut_bits, acc_bits));
}

int run_golden(const GoldenOptions& options, std::istream& in, std::ostream& out,
               std::ostream& err) {
  GoldenFormat format;
  try {
    format = parse_golden_format(options.format, options.frac_bits, options.lut_bits,
                                 options.acc_bits);
    const std::string& op = options.operation;
    if (op == "encode" || op == "decode") {
      check_exponent(required(options.exponent, "--exp", op));
    } else if (op == "requant") {
      check_exponent(required(options.exponent, "--exp", op));
      required(options.scale, "--scale", op);
    } else if (op == "encode-fp32" || op == "decode-fp32" || op == "requant-fp32" ||
               op == "tensor-scale" || op == "mx-scale") {
      const auto* scaled = std::get_if<ScaledFormat>(&format);
      const bool mx_op = op == "mx-scale";
      if (scaled == nullptr || scaled->is_mx() != mx_op) {
        throw std::invalid_argument(fmt::format(
            "golden {} applies to {} only, not {}", op,
            mx_op ? "mxint8, mxfp8-e4m3 and mxfp8-e5m2" : "fp8-e4m3, fp8-e5m2 and int8",
            options.format));
      }
      const auto fp32_scale = [&](const std::optional<double>& v, const char* option) {
        const auto s = static_cast<float>(required_real(v, option, op));
        if (!std::isfinite(s) || !(s > 0.0f)) {
          throw std::invalid_argument(fmt::format(
              "golden {}: {} {} is not a finite positive FP32 number", op, option, *v));
        }
      };
      if (op == "encode-fp32" || op == "decode-fp32") fp32_scale(options.fp32_scale, "--fp32-scale");
      if (op == "requant-fp32") {
        fp32_scale(options.scale_a, "--sa");
        fp32_scale(options.scale_b, "--sb");
        fp32_scale(options.scale_out, "--so");
      }
    } else if (op != "mul" && op != "dot") {
      throw std::invalid_argument(fmt::format("unknown golden operation '{}'", op));
    }
  } catch (const std::exception& e) {
    err << "lbfp golden: " << e.what() << "\n";
    return kExitBadInput;
  }

  std::string results;
  std::string line;
  size_t line_number = 0;
  bool too_long = false;
  while (read_line(in, line, too_long)) {
    ++line_number;
    const std::string_view text = trim(line);
    try {
      if (too_long) {
        throw std::invalid_argument(fmt::format("longer than {} bytes", kMaxLineBytes));
      }
      if (results.size() > kMaxResultBytes) {
        throw std::invalid_argument(fmt::format(
            "more than {} MiB of results are held until the last line; split the input",
            kMaxResultBytes >> 20));
      }
      if (text.empty()) throw std::invalid_argument("empty line");
      for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && c != '\t') || byte == 0x7f) {
          throw std::invalid_argument(fmt::format("control character \\x{:02x} in the line", byte));
        }
      }
      results += std::visit([&](const auto& f) { return run_line(f, options, text); }, format);
      results += '\n';
    } catch (const std::exception& e) {
      const std::string shown =
          text.size() > 100 ? std::string(text.substr(0, 100)) + "..." : std::string(text);
      err << printable(fmt::format("lbfp golden {}: line {}: {} (input: '{}')", options.operation,
                                   line_number, e.what(), shown))
          << "\n";
      return kExitBadInput;
    }
  }
  out << results;
  out.flush();
  return 0;
}

void add_golden_command(CLI::App& app) {
  auto options = std::make_shared<GoldenOptions>();
  CLI::App* golden = app.add_subcommand(
      "golden", "The golden reference: conformance operations on stdin, and a worked example");
  golden->require_subcommand(1);

  auto add_format_options = [options](CLI::App* cmd) {
    cmd->add_option("--format", options->format,
                    "lbfp8 (default), bfp8, lbfpW, bfpW, mxint8, mxfp8-e4m3, mxfp8-e5m2, "
                    "fp8-e4m3, fp8-e5m2 or int8 (docs/spec.md sections 12, 13)");
    cmd->add_option("--frac-bits", options->frac_bits, "F, fraction bits of the log magnitude");
    cmd->add_option("--lut-bits", options->lut_bits, "P, fraction bits of the antilog LUT");
    cmd->add_option("--acc-bits", options->acc_bits,
                    "A, accumulator width (default 32; FP8 elements 42 (E4M3) or 70 (E5M2))");
  };
  struct Spec {
    const char* name;
    const char* help;
  };
  const Spec specs[] = {
      {"encode", "decimal value per line -> code 0x%02x (exact log-domain rounding of the FP32)"},
      {"decode", "code per line -> its real value (nearest double)"},
      {"mul", "'0xAA 0xBB' per line -> signed decimal product in accumulator units"},
      {"dot", "'a0,a1,.. b0,b1,..' per line -> 'acc overflow_count' (sequential, saturating)"},
      {"requant", "decimal accumulator per line -> output code 0x%02x"},
  };
  for (const Spec& spec : specs) {
    CLI::App* cmd = golden->add_subcommand(spec.name, spec.help);
    add_format_options(cmd);
    const std::string name = spec.name;
    if (name == "encode" || name == "decode" || name == "requant") {
      cmd->add_option("--exp", options->exponent, "shared block exponent E in [-127, 127]")
          ->required();
    }
    if (name == "requant") {
      cmd->add_option("--scale", options->scale, "exponent of the accumulator's LSB")->required();
      cmd->add_flag("--relu", options->relu, "zero non-positive accumulators first");
    }
    cmd->callback([options, name] {
      options->operation = name;
      const int rc = run_golden(*options, std::cin, std::cout, std::cerr);
      if (rc != 0) throw CLI::RuntimeError(rc);
    });
  }
  const Spec scaled_specs[] = {
      {"encode-fp32", "fp8-e4m3/fp8-e5m2/int8: decimal value per line -> q(fp32(x / s)), 0x%02x"},
      {"decode-fp32", "fp8-e4m3/fp8-e5m2/int8: code per line -> its value times s"},
      {"requant-fp32",
       "fp8-e4m3/fp8-e5m2/int8: decimal accumulator per line -> code, M = fp32(fp32(sa sb) / so) 2^L"},
      {"tensor-scale", "fp8-e4m3/fp8-e5m2/int8: amax per line -> the FP32 scale amax / max_elem"},
      {"mx-scale", "MX formats: up to 32 comma-separated values per line -> the shared exponent E"},
  };
  for (const Spec& spec : scaled_specs) {
    CLI::App* cmd = golden->add_subcommand(spec.name, spec.help);
    add_format_options(cmd);
    const std::string name = spec.name;
    if (name == "encode-fp32" || name == "decode-fp32") {
      cmd->add_option("--fp32-scale", options->fp32_scale, "the tensor's FP32 scale s")
          ->required();
    }
    if (name == "requant-fp32") {
      cmd->add_option("--sa", options->scale_a, "FP32 scale of the first operand")->required();
      cmd->add_option("--sb", options->scale_b, "FP32 scale of the second operand")->required();
      cmd->add_option("--so", options->scale_out, "FP32 scale of the output")->required();
      cmd->add_flag("--relu", options->relu, "zero non-positive accumulators first");
    }
    cmd->callback([options, name] {
      options->operation = name;
      const int rc = run_golden(*options, std::cin, std::cout, std::cerr);
      if (rc != 0) throw CLI::RuntimeError(rc);
    });
  }
  golden->add_subcommand("example", "Walk through the golden arithmetic on a built-in layer")
      ->callback([] { run_golden_example(std::cout); });
}

}  // namespace lbfp::cli
