// The timing the C++ arrays share (the LBFP/BFP array of accelerator.cpp and the spec section 13
// formats' array of scaled_array.cpp): each tile's events, its operands released and its results
// out, reported in the simulated cycle ArrayTimeline gives them; cycle mode advances one cycle at
// a time, tile mode from event to event.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/arch/array_timing.h"

namespace lbfp::arch {

class TimedArray : public ArrayBackend {
 public:
  bool busy() const override { return !pending_.empty(); }
  int64_t step(const Tick& tick) override { return busy() ? advance_to(now_ + 1, tick) : 0; }
  // Tile mode: straight to the last tile's end, stopping at the events on the way.
  int64_t flush(const Tick& tick) override {
    if (mode_ == SimMode::kCycle) return ArrayBackend::flush(tick);
    int64_t end = now_;
    for (const Pending& p : pending_) end = std::max(end, p.done_at);
    return advance_to(end, tick);
  }

 protected:
  TimedArray(const ArrayGeometry& geometry, SimMode mode) : mode_(mode), timeline_(geometry) {}

  SimMode mode() const { return mode_; }

  // Queues a tile of `steps` reduction steps, computed as `result`, after the tiles before it,
  // and advances to the cycle the array takes the next tile's operands. The job's *_watched
  // say which of its events the tile mode stops for.
  int64_t schedule(const TileJob& job, int64_t steps, TileResult&& result, const Tick& tick) {
    const ArrayTimeline::Tile t = timeline_.add(now_, steps);
    pending_.push_back({next_tile_++, t.last + 1, t.end + 1, false, job.release_watched,
                        job.done_watched, std::move(result)});
    return advance_to(t.next_handover, tick);
  }

  // A reported tile's result, its vectors' capacity for a later tile (empty when none is left).
  TileResult spare() {
    if (spare_.empty()) return {};
    TileResult r = std::move(spare_.back());
    spare_.pop_back();
    return r;
  }

 private:
  struct Pending {
    uint64_t tile;
    int64_t release_at;  // the cycle after its last step
    int64_t done_at;     // the cycle after its last result row
    bool released;
    bool release_watched;  // TileJob's: whether the tile mode stops at release_at, done_at
    bool done_watched;
    TileResult result;
  };

  // Advances to cycle `target`, reporting each event in its cycle: every cycle (cycle mode) or
  // each cycle a watched event happens in (tile mode), reporting there the unwatched events
  // before it too, in order.
  int64_t advance_to(int64_t target, const Tick& tick) {
    const int64_t from = now_;
    fire();
    while (now_ < target) {
      int64_t next = target;
      if (mode_ == SimMode::kCycle) {
        next = now_ + 1;
      } else {
        for (const Pending& p : pending_) {
          if (!p.released && p.release_watched) next = std::min(next, p.release_at);
          if (p.done_watched) next = std::min(next, p.done_at);
        }
      }
      tick(next - now_);
      now_ = next;
      fire();
    }
    return now_ - from;
  }
  void fire() {
    for (Pending& p : pending_) {
      if (!p.released && p.release_at <= now_) {
        p.released = true;
        released(p.tile);
      }
    }
    while (!pending_.empty() && pending_.front().done_at <= now_) {
      Pending p = std::move(pending_.front());
      pending_.pop_front();
      finished(p.tile, p.result);
      if (spare_.size() < 4) spare_.push_back(std::move(p.result));
    }
  }

  SimMode mode_;
  ArrayTimeline timeline_;
  int64_t now_ = 0;
  uint64_t next_tile_ = 0;
  std::deque<Pending> pending_;
  std::vector<TileResult> spare_;
};

}  // namespace lbfp::arch
