// Where a thread process of the model has done its work.
#pragma once

#include <systemc>

namespace lbfp::arch {

// A thread process of the model calls this when its work is done, in place of ending; the
// sanitizer build parks the thread there for good. SystemC 2.3.4 tells AddressSanitizer of a
// switch between coroutines when a thread waits (sc_cor_pkg_qt::yield) but not when one ends
// (sc_cor_pkg_qt::abort). When an ending thread is the last to run before sc_start returns, the
// sanitizers go on taking its coroutine stack for the main thread's; SystemC frees that stack
// with the ended process, and LeakSanitizer's scan at exit can fault on the freed pages
// ("Tracer caught signal 11", about one run in 40 of a device test). A parked thread leaves with
// the annotation. Only the sanitizer build parks: a parked thread keeps its coroutine stack,
// which a process that runs many simulations would accumulate (docs/python.md). Call it from a
// frame that holds no buffers: LeakSanitizer does not scan a parked thread's stack.
inline void end_thread() {
#if defined(__SANITIZE_ADDRESS__)
#define LBFP_PARK_ENDED_THREADS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LBFP_PARK_ENDED_THREADS 1
#endif
#endif
#ifdef LBFP_PARK_ENDED_THREADS
  for (;;) sc_core::wait();  // no static sensitivity: never resumes
#endif
}

}  // namespace lbfp::arch
