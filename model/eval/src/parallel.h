// Independent tasks over a few threads, for the evaluator's passes.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace lbfp::eval::detail {

// Runs task(w, 0), ..., task(w, count - 1) on up to `threads` workers w = 0, 1, ... (worker 0 the
// calling thread), each worker taking the next task in turn. After all have ended, the exception
// of the lowest-numbered task that threw is rethrown.
template <class Task>
void parallel_worker_tasks(size_t count, size_t threads, const Task& task) {
  const size_t workers = std::max<size_t>(1, std::min(threads, count));
  if (workers == 1) {
    for (size_t i = 0; i < count; ++i) task(size_t{0}, i);
    return;
  }
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> errors(count);
  auto run = [&](size_t w) {
    for (size_t i = next++; i < count; i = next++) {
      try {
        task(w, i);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> others;
  for (size_t w = 1; w < workers; ++w) others.emplace_back(run, w);
  run(0);
  for (auto& t : others) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

// The same without the worker's number.
template <class Task>
void parallel_tasks(size_t count, size_t threads, const Task& task) {
  parallel_worker_tasks(count, threads, [&](size_t, size_t i) { task(i); });
}

}  // namespace lbfp::eval::detail
