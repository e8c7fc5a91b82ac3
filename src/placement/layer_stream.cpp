#include "placement/layer_stream.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hearth/error.h"

namespace hearth {
namespace {

constexpr size_t kAlign = 64;            // tensor start in a slot (SIMD loads)
constexpr size_t kHuge = 2u << 20;       // slot alignment: transparent huge pages

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string mib(size_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", b / 1048576.0);
  return buf;
}

// Bytes of a group in a slot, with each tensor aligned.
size_t group_bytes(const std::vector<size_t>& aligned_layer_bytes, int begin, int end) {
  size_t b = 0;
  for (int i = begin; i < end; ++i) b += aligned_layer_bytes[i];
  return b;
}

}  // namespace

size_t StreamLayer::bytes() const {
  size_t b = 0;
  for (const StreamTensor& t : tensors) b += round_up(t.nbytes, kAlign);
  return b;
}

LayerGroups plan_layer_groups(const std::vector<size_t>& layer_bytes, size_t budget, int n_slots) {
  const int n = static_cast<int>(layer_bytes.size());
  if (n == 0) throw Error("layer streaming: no layers to stream");
  const size_t largest = *std::max_element(layer_bytes.begin(), layer_bytes.end());
  if (n_slots <= 0) n_slots = budget >= 2 * largest ? 2 : 1;
  const size_t slot = budget / n_slots;
  if (largest > slot)
    throw Error("memory budget " + mib(budget) + " is too small: a layer needs " + mib(largest) + " and the budget is " +
                std::to_string(n_slots) + " slot(s) of " + mib(slot) + " (raise --mem-budget)");
  LayerGroups g;
  g.n_slots = n_slots;
  auto finish = [&](std::vector<int> begin) {
    g.begin = std::move(begin);
    g.slot_bytes = 0;
    for (int i = 0; i + 1 < static_cast<int>(g.begin.size()); ++i)
      g.slot_bytes = std::max(g.slot_bytes, group_bytes(layer_bytes, g.begin[i], g.begin[i + 1]));
    return g;
  };
  // Equal layer counts per group, the number of groups a multiple of the slots: group g + n_slots reuses the slot
  // of group g, also across the wrap from the last group to the first of the next token.
  for (int groups = n_slots; groups <= n; groups += n_slots) {
    std::vector<int> begin;
    for (int i = 0; i <= groups; ++i) begin.push_back(static_cast<int>(static_cast<int64_t>(i) * n / groups));
    bool fits = true;
    for (int i = 0; i < groups && fits; ++i) fits = group_bytes(layer_bytes, begin[i], begin[i + 1]) <= slot;
    if (fits) return finish(begin);
  }
  // Otherwise as many layers per group as fit (the wrap-around then waits for one load).
  std::vector<int> begin = {0};
  size_t cur = 0;
  for (int i = 0; i < n; ++i) {
    if (cur + layer_bytes[i] > slot) {
      begin.push_back(i);
      cur = 0;
    }
    cur += layer_bytes[i];
  }
  begin.push_back(n);
  return finish(begin);
}

LayerStream::LayerStream(std::vector<StreamLayer> layers, size_t budget, int n_slots) : layers_(std::move(layers)) {
  for (const StreamLayer& l : layers_) layer_bytes_.push_back(l.bytes());
  groups_ = plan_layer_groups(layer_bytes_, budget, n_slots);
  first_layer_ = layers_.front().layer;
  layer_group_.assign(layers_.back().layer - first_layer_ + 1, -1);
  for (int gi = 0; gi < groups_.n_groups(); ++gi)
    for (int i = groups_.begin[gi]; i < groups_.begin[gi + 1]; ++i) layer_group_[layers_[i].layer - first_layer_] = gi;

  slots_.resize(groups_.n_slots);
  const size_t slot_size = round_up(std::max<size_t>(groups_.slot_bytes, 1), kHuge);
  for (Slot& s : slots_) {
    s.data = static_cast<uint8_t*>(std::aligned_alloc(kHuge, slot_size));
    if (!s.data) {
      for (Slot& t : slots_) std::free(t.data);
      throw Error("layer streaming: cannot allocate a slot of " + mib(slot_size));
    }
    madvise(s.data, slot_size, MADV_HUGEPAGE);
  }
  // Every tensor has a fixed address: its offset within its group, in the group's slot.
  for (int gi = 0; gi < groups_.n_groups(); ++gi) {
    uint8_t* base = slots_[gi % groups_.n_slots].data;
    size_t off = 0;
    for (int i = groups_.begin[gi]; i < groups_.begin[gi + 1]; ++i)
      for (const StreamTensor& t : layers_[i].tensors) {
        placements_.emplace_back(t.name, base + off);
        off += round_up(t.nbytes, kAlign);
      }
  }
  for (const StreamLayer& l : layers_)
    for (const StreamTensor& t : l.tensors) {
      auto it = std::find_if(fds_.begin(), fds_.end(), [&](const auto& p) { return p.first == t.path; });
      if (it != fds_.end()) continue;
      int fd = ::open(t.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        std::string err = std::strerror(errno);
        for (auto& [p, f] : fds_) ::close(f);
        for (Slot& s : slots_) std::free(s.data);
        throw Error(t.path + ": cannot open for layer streaming: " + err);
      }
      fds_.emplace_back(t.path, fd);
    }
  stats_.n_groups = groups_.n_groups();
  stats_.n_slots = groups_.n_slots;
  stats_.slot_bytes = groups_.slot_bytes;
  loader_ = std::thread([this] { loader_main(); });
}

LayerStream::~LayerStream() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (loader_.joinable()) loader_.join();
  for (auto& [p, fd] : fds_) ::close(fd);
  for (Slot& s : slots_) std::free(s.data);
}

std::string LayerStream::describe() const {
  return "streaming " + std::to_string(layers_.size()) + " layers in " + std::to_string(groups_.n_groups()) +
         " groups through " + std::to_string(groups_.n_slots) + " slot(s) of " + mib(groups_.slot_bytes);
}

LayerStreamStats LayerStream::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int LayerStream::group_of(int layer) const {
  int i = layer - first_layer_;
  return i >= 0 && i < static_cast<int>(layer_group_.size()) ? layer_group_[i] : -1;
}

void LayerStream::load_group(int group, uint8_t* dst) {
  size_t off = 0;
  for (int i = groups_.begin[group]; i < groups_.begin[group + 1]; ++i)
    for (const StreamTensor& t : layers_[i].tensors) {
      int fd = std::find_if(fds_.begin(), fds_.end(), [&](const auto& p) { return p.first == t.path; })->second;
      size_t done = 0;
      while (done < t.nbytes) {
        ssize_t r = ::pread(fd, dst + off + done, t.nbytes - done, static_cast<off_t>(t.offset + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
          throw Error(t.path + ": reading tensor " + t.name + " for layer streaming failed: " +
                      (r < 0 ? std::strerror(errno) : "unexpected end of file"));
        done += static_cast<size_t>(r);
      }
      off += round_up(t.nbytes, kAlign);
    }
}

void LayerStream::loader_main() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const int group = next_load_;
    Slot& slot = slots_[group % groups_.n_slots];
    cv_.wait(lock, [&] {
      return stop_ || (next_load_ == group && (slot.state == SlotState::kEmpty || slot.state == SlotState::kFree)) ||
             next_load_ != group;
    });
    if (stop_) return;
    if (next_load_ != group) continue;  // compute resynchronized meanwhile
    slot.state = SlotState::kLoading;
    slot.group = group;
    next_load_ = (group + 1) % groups_.n_groups();
    const uint64_t gen = generation_;
    lock.unlock();
    double t0 = now_s();
    std::string err;
    try {
      load_group(group, slot.data);
    } catch (const std::exception& e) {  // any exception: one escaping this thread would end the process
      err = e.what();
      if (err.empty()) err = "layer streaming: loading failed";
    }
    double t1 = now_s();
    lock.lock();
    stats_.load_s += t1 - t0;
    if (!err.empty()) {
      load_error_ = err;
      slot.state = SlotState::kEmpty;
      slot.group = -1;
      cv_.notify_all();
      return;
    }
    if (gen != generation_) {
      slot.state = SlotState::kEmpty;  // loaded for a schedule compute abandoned
      slot.group = -1;
    } else {
      slot.state = SlotState::kReady;
      stats_.bytes_read += group_bytes(layer_bytes_, groups_.begin[group], groups_.begin[group + 1]);
      stats_.groups_loaded += 1;
    }
    cv_.notify_all();
  }
}

void LayerStream::before_layer(int layer) {
  const int g = group_of(layer);
  if (g < 0 || layers_[groups_.begin[g]].layer != layer) return;  // not the first layer of a group
  std::unique_lock<std::mutex> lock(mu_);
  Slot& slot = slots_[g % groups_.n_slots];
  if (g != expected_) {
    // A pass ended early (an error) and left the schedule elsewhere: start loading again from this group.
    ++generation_;
    for (Slot& s : slots_)
      if (s.state != SlotState::kLoading) s.state = SlotState::kEmpty, s.group = -1;
    next_load_ = g;
    expected_ = g;
    cv_.notify_all();
  }
  double t0 = now_s();
  cv_.wait(lock, [&] { return !load_error_.empty() || (slot.group == g && slot.state == SlotState::kReady); });
  if (!load_error_.empty()) throw Error(load_error_);
  double t1 = now_s();
  stats_.wait_s += t1 - t0;
  slot.state = SlotState::kInUse;
  group_start_ = t1;
}

void LayerStream::after_layer(int layer) {
  const int g = group_of(layer);
  if (g < 0 || layers_[groups_.begin[g + 1] - 1].layer != layer) return;  // not the last layer of a group
  std::lock_guard<std::mutex> lock(mu_);
  Slot& slot = slots_[g % groups_.n_slots];
  stats_.compute_s += now_s() - group_start_;
  slot.state = SlotState::kFree;
  expected_ = (g + 1) % groups_.n_groups();
  cv_.notify_all();
}

}  // namespace hearth
