// The bindings' calls into the libraries: their exceptions, whose messages name the value at
// fault (a bad code, shape or exponent, a forced kernel the CPU lacks), as Python's ValueError.
#pragma once

#include <pybind11/pybind11.h>

#include <stdexcept>
#include <utility>

namespace lbfp::python {

template <class F>
auto library_call(F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const std::invalid_argument& e) {
    throw pybind11::value_error(e.what());
  } catch (const std::out_of_range& e) {
    throw pybind11::value_error(e.what());
  } catch (const std::domain_error& e) {
    throw pybind11::value_error(e.what());
  }
}

}  // namespace lbfp::python
