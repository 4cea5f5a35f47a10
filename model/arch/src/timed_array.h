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
  // Tile mode: the pending tiles' results leave in tile order, the first tile's first.
  int64_t step_to_results(const Tick& tick) override {
    if (mode_ == SimMode::kCycle || pending_.empty()) return step(tick);
    return advance_to(std::max(now_ + 1, pending_.front().done_at), tick);
  }
  int64_t catch_up(const Tick& tick) override {
    const int64_t handover = timeline_.next_handover();
    return handover > now_ ? advance_to(handover, tick) : 0;
  }
  // Tile mode: straight to the last tile's end, stopping at the events on the way.
  int64_t flush(const Tick& tick) override {
    if (mode_ == SimMode::kCycle) return ArrayBackend::flush(tick);
    int64_t end = timeline_.next_handover();
    if (!pending_.empty()) end = std::max(end, pending_.back().done_at);  // (ascending)
    return end > now_ ? advance_to(end, tick) : 0;
  }

 protected:
  TimedArray(const ArrayGeometry& geometry, SimMode mode) : mode_(mode), timeline_(geometry) {}

  SimMode mode() const { return mode_; }

  // Queues a tile of `steps` reduction steps, computed as `result`, after the tiles before it
  // (handed over ahead of time, it is taken at the cycle the array can take it: the timeline
  // starts it no earlier); then advances to the cycle the array can take the next tile's
  // operands, unless the tile mode hands over ahead (TileJob::handover_ahead: catch_up
  // advances later). The job's *_watched say which of its events the tile mode stops for.
  int64_t schedule(const TileJob& job, int64_t steps, TileResult&& result, const Tick& tick) {
    const ArrayTimeline::Tile t = timeline_.add(now_, steps);
    pending_.push_back({next_tile_++, t.last + 1, t.end + 1, job.release_watched,
                        job.done_watched, std::move(result)});
    if (job.release_watched) watched_releases_.push_back(t.last + 1);
    if (job.done_watched) watched_dones_.push_back(t.end + 1);
    if (mode_ == SimMode::kTile && job.handover_ahead) return 0;
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
  // A tile's events come after the previous tile's (its steps follow them, and its results
  // theirs), so both the pending tiles' release and done cycles ascend in tile order, and the
  // released tiles are a prefix of pending_.
  struct Pending {
    uint64_t tile;
    int64_t release_at;  // the cycle after its last step
    int64_t done_at;     // the cycle after its last result row (after release_at)
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
        if (!watched_releases_.empty()) next = std::min(next, watched_releases_.front());
        if (!watched_dones_.empty()) next = std::min(next, watched_dones_.front());
      }
      tick(next - now_);
      now_ = next;
      fire();
    }
    return now_ - from;
  }
  void fire() {
    while (released_ < pending_.size() && pending_[released_].release_at <= now_) {
      const Pending& p = pending_[released_++];
      if (p.release_watched) watched_releases_.pop_front();
      released(p.tile);
    }
    while (!pending_.empty() && pending_.front().done_at <= now_) {
      Pending p = std::move(pending_.front());
      pending_.pop_front();
      --released_;  // released in an earlier cycle or above
      if (p.done_watched) watched_dones_.pop_front();
      finished(p.tile, p.result);
      if (spare_.size() < 4) spare_.push_back(std::move(p.result));
    }
  }

  SimMode mode_;
  ArrayTimeline timeline_;
  int64_t now_ = 0;
  uint64_t next_tile_ = 0;
  std::deque<Pending> pending_;
  size_t released_ = 0;  // the tiles at the front of pending_ whose operands are released
  // The cycles of the watched events not yet reported, ascending (the tile mode's stops).
  std::deque<int64_t> watched_releases_;
  std::deque<int64_t> watched_dones_;
  std::vector<TileResult> spare_;
};

}  // namespace lbfp::arch
