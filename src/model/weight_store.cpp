#include "model/weight_store.h"

#include <algorithm>

#include "backend/place_weight.h"
#include "gguf/gguf.h"
#include "hearth/error.h"
#include "quant/quant.h"

namespace hearth {

WeightStore::~WeightStore() {
  for (auto& [be, p] : device_copies_) be->release(p);
}

const GgufTensor* WeightStore::find(const std::string& name) const {
  if (const GgufTensor* t = file_.find_tensor(name)) return t;
  for (const GgufFile* f : more_files_)
    if (const GgufTensor* t = f->find_tensor(name)) return t;
  return nullptr;
}

const void* WeightStore::placed(const std::string& name) const {
  for (const auto& [n, p] : placed_)
    if (n == name) return p;
  return nullptr;
}

void WeightStore::set_progress(std::function<bool(float)> progress, uint64_t total_bytes) {
  progress_ = std::move(progress);
  progress_total_ = total_bytes;
  progress_done_ = 0;
}

void WeightStore::advance(uint64_t n) {
  if (!progress_ || progress_total_ == 0) return;
  progress_done_ = std::min(progress_total_, progress_done_ + n);
  // Below 1: the loader says 1 itself once everything is bound.
  const float f = std::min(0.999f, static_cast<float>(static_cast<double>(progress_done_) / progress_total_));
  if (!progress_(f)) throw Error(file_.path() + ": loading cancelled");
}

bool WeightStore::has(const std::string& name) const { return find(name) != nullptr; }

size_t WeightStore::bytes(const std::string& name) const {
  const GgufTensor* t = find(name);
  return t ? t->nbytes : 0;
}

Weight WeightStore::view(const std::string& name, std::initializer_list<int64_t> shape) const {
  const GgufTensor* t = find(name);
  if (!t) throw Error(file_.path() + ": missing tensor " + name);
  std::string expected = "[";
  bool ok = t->n_dims <= static_cast<int>(shape.size());
  int d = 0;
  for (int64_t n : shape) {
    expected += (d ? ", " : "") + std::to_string(n);
    if (t->ne[d] != n) ok = false;
    ++d;
  }
  expected += "]";
  if (!ok)
    throw Error("tensor " + name + ": expected shape " + expected + ", file has " + t->shape_str());
  if (!dtype_supported(t->type))
    throw Error("tensor " + name + ": type " + std::string(dtype_name(t->type)) + " is not supported yet");
  Weight w;
  w.type = t->type;
  for (int i = 0; i < 4; ++i) w.ne[i] = t->ne[i];
  w.nbytes = t->nbytes;
  const void* p = placed(name);
  w.data = p ? p : t->data;
  return w;
}

Weight WeightStore::get(const std::string& name, std::initializer_list<int64_t> shape, Backend& backend) {
  Weight w = view(name, shape);
  if (!placed(name)) {
    Weight bound = place_weight(backend, w, false, device_copies_);
    advance(w.nbytes);
    return bound;
  }
  if (!backend.is_host()) throw Error("tensor " + name + ": streamed weights must be on the CPU");
  return w;
}

Weight WeightStore::matrix(const std::string& name, std::initializer_list<int64_t> shape, Backend& backend) {
  if (placed(name)) return get(name, shape, backend);  // streamed: used in its slot as it is
  const Weight w = view(name, shape);
  Weight bound = place_matrix(w, backend);
  advance(w.nbytes);
  return bound;
}

Weight WeightStore::expert(const std::string& name, std::initializer_list<int64_t> shape, int index,
                           Backend& backend) {
  Weight w = view(name, shape);
  if (shape.size() != 3 || index < 0 || index >= w.ne[2])
    throw Error("tensor " + name + ": no matrix " + std::to_string(index) + " in a stack of " + std::to_string(w.ne[2]));
  w.ne[2] = 1;
  w.nbytes = row_bytes(w.type, w.ne[0]) * w.ne[1];
  w.data = static_cast<const uint8_t*>(w.data) + w.nbytes * index;
  if (placed(name)) {  // streamed: used in its slot as it is
    if (!backend.is_host()) throw Error("tensor " + name + ": streamed weights must be on the CPU");
    return w;
  }
  Weight bound = place_matrix(w, backend);
  advance(w.nbytes);
  return bound;
}

Weight WeightStore::place_matrix(Weight w, Backend& backend) {  // A backend spreading matrices over several devices copies each device's rows itself.
  if (const void* handle = backend.split_weight(w, pack_)) {
    w.packed = handle;
    w.data = nullptr;
    return w;
  }
  return place_weight(backend, w, pack_, device_copies_);
}

}  // namespace hearth
