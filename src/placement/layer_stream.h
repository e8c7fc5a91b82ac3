// Layer streaming: a model part whose layer weights exceed a memory budget keeps a fixed pool of layer-group
// slots (allocated once) and loads the next group into a free slot with pread on a background thread while the
// current group computes. Groups are contiguous layer ranges in layer order; group g always uses slot
// g % n_slots, so weights are bound to slot addresses once at load and never rebound. The prefetch depth is
// n_slots - 1 groups. Never a whole-file mmap the kernel may page out: the bytes come from pread into memory
// this process owns.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "model/architecture.h"

namespace hearth {

// One tensor to stream: where its bytes are in a file.
struct StreamTensor {
  std::string name;
  std::string path;     // the GGUF file holding it
  uint64_t offset = 0;  // absolute file offset of its data
  size_t nbytes = 0;
};

// One layer's tensors.
struct StreamLayer {
  int layer = 0;
  std::vector<StreamTensor> tensors;
  size_t bytes() const;
};

// Contiguous groups of layers: group i is layers [begin[i], begin[i + 1]) (indices into the layer list).
struct LayerGroups {
  std::vector<int> begin;  // n_groups + 1 entries, begin.back() == number of layers
  int n_slots = 0;
  size_t slot_bytes = 0;   // the largest group
  int n_groups() const { return static_cast<int>(begin.size()) - 1; }
};

// Splits layers (bytes per layer, in order) into groups for `budget` bytes and n_slots slots (0: 2 when two
// layers fit, else 1). Prefers a number of groups that is a multiple of n_slots so that the schedule wraps around
// from the last group to the first without a stall. Throws hearth::Error when one layer alone exceeds a slot.
LayerGroups plan_layer_groups(const std::vector<size_t>& layer_bytes, size_t budget, int n_slots);

struct LayerStreamStats {
  int n_groups = 0;
  int n_slots = 0;
  size_t slot_bytes = 0;
  uint64_t bytes_read = 0;
  uint64_t groups_loaded = 0;
  double load_s = 0;     // loader thread reading
  double wait_s = 0;     // compute waiting for a group
  double compute_s = 0;  // compute inside streamed groups
};

class LayerStream final : public LayerObserver {
 public:
  // Plans the groups, allocates the slots and starts loading the first groups. Throws hearth::Error.
  LayerStream(std::vector<StreamLayer> layers, size_t budget, int n_slots);
  ~LayerStream() override;
  LayerStream(const LayerStream&) = delete;
  LayerStream& operator=(const LayerStream&) = delete;

  // Tensor name -> its address in its group's slot (valid once the group is loaded; bind with WeightStore::place).
  const std::vector<std::pair<std::string, const void*>>& placements() const { return placements_; }
  const LayerGroups& groups() const { return groups_; }
  LayerStreamStats stats() const;
  std::string describe() const;  // "streaming 22 layers in 8 groups through 2 slots of 120.0 MiB"

  void before_layer(int layer) override;
  void after_layer(int layer) override;

 private:
  enum class SlotState { kEmpty, kLoading, kReady, kInUse, kFree };
  struct Slot {
    uint8_t* data = nullptr;
    SlotState state = SlotState::kEmpty;
    int group = -1;
  };

  void loader_main();
  void load_group(int group, uint8_t* dst);
  int group_of(int layer) const;  // -1 when the layer is not streamed here

  std::vector<StreamLayer> layers_;
  LayerGroups groups_;
  std::vector<size_t> layer_bytes_;  // per layer, as laid out in a slot
  std::vector<std::pair<std::string, const void*>> placements_;
  std::vector<std::pair<std::string, int>> fds_;  // path -> fd
  int first_layer_ = 0;
  std::vector<int> layer_group_;  // by layer - first_layer_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  int next_load_ = 0;       // the group the loader reads next
  int expected_ = 0;        // the group compute runs next
  uint64_t generation_ = 0; // bumped when compute resynchronizes (a pass that ended early)
  bool stop_ = false;
  std::string load_error_;  // a failed read, reported to compute
  LayerStreamStats stats_;
  double group_start_ = 0;
  std::thread loader_;
};

}  // namespace hearth
