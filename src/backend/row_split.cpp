#include "backend/row_split.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "backend/place_weight.h"
#include "hearth/error.h"

namespace hearth {

std::vector<std::pair<int64_t, int64_t>> row_split_ranges(int64_t rows, const std::vector<double>& shares,
                                                         int64_t granule) {
  double total = 0;
  for (double s : shares) total += s;
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t prev = 0;
  double acc = 0;
  for (size_t i = 0; i < shares.size(); ++i) {
    acc += shares[i];
    int64_t end = rows;
    if (i + 1 < shares.size()) {
      end = static_cast<int64_t>(std::llround(acc / total * static_cast<double>(rows) / granule)) * granule;
      end = std::clamp(end, prev, rows);
    }
    out.emplace_back(prev, end);
    prev = end;
  }
  return out;
}

namespace {

// Boundaries between devices fall on multiples of this many rows (the CPU packs 8 rows together, the CUDA matvec
// gives each warp 2 rows).
constexpr int64_t kRowGranule = 16;

// The rows [row0, row0 + rows) of a matrix, bound on one device.
struct Part {
  int device = 0;
  int64_t row0 = 0, rows = 0;
  Weight w;
};

struct SplitMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<Part> parts;
};

// A buffer on one device that only grows.
struct Buffer {
  Backend* be = nullptr;
  float* p = nullptr;
  size_t n = 0;
  float* get(size_t floats) {
    if (floats > n) {
      release();
      p = static_cast<float*>(be->alloc(floats * sizeof(float)));
      n = floats;
    }
    return p;
  }
  void release() {
    if (p) be->release(p);
    p = nullptr, n = 0;
  }
};

class RowSplitBackend final : public Backend {
 public:
  RowSplitBackend(std::vector<Backend*> devices, std::vector<double> shares, int main)
      : devices_(std::move(devices)), shares_(std::move(shares)), main_(main) {
    if (devices_.empty()) throw Error("row split: no devices");
    if (main_ < 0 || main_ >= static_cast<int>(devices_.size()))
      throw Error("row split: main device " + std::to_string(main_) + " of " + std::to_string(devices_.size()));
    if (shares_.size() != devices_.size())
      throw Error("row split: " + std::to_string(shares_.size()) + " shares for " + std::to_string(devices_.size()) +
                  " devices");
    double total = 0;
    for (double s : shares_) {
      if (!(s >= 0) || !std::isfinite(s)) throw Error("row split: shares must be finite and >= 0");
      total += s;
    }
    if (total <= 0) throw Error("row split: every share is 0");
    for (Backend* d : devices_) {
      in_.push_back(Buffer{d});
      out_.push_back(Buffer{d});
    }
    stage_ = Buffer{devices_[main_]};
  }

  ~RowSplitBackend() override {
    stage_.release();
    for (auto* v : {&in_, &out_})
      for (Buffer& b : *v) b.release();
    for (auto& [be, p] : owned_) be->release(p);
  }

  std::string name() const override {
    std::string n;
    for (Backend* d : devices_) {
      if (!n.empty()) n += '+';
      n += d->name();
    }
    return n;
  }
  bool is_host() const override { return main().is_host(); }
  // The main device's, where alloc() takes memory from.
  size_t free_memory() const override { return main().free_memory(); }

  void* alloc(size_t bytes) override { return main().alloc(bytes); }
  void release(void* p) override { main().release(p); }
  void to_device(void* dst, const void* src, size_t bytes) override { main().to_device(dst, src, bytes); }
  void to_host(void* dst, const void* src, size_t bytes) override { main().to_host(dst, src, bytes); }
  void synchronize() override {
    for (Backend* d : devices_) d->synchronize();
  }

  const void* split_weight(const Weight& w, bool pack) override {
    if (w.ne[2] != 1 || w.ne[3] != 1) throw Error("row split: only 2-D matrices can be split");
    auto m = std::make_unique<SplitMatrix>();
    m->rows = w.rows(), m->cols = w.cols();
    const size_t row_bytes = w.nbytes / static_cast<size_t>(m->rows);
    const auto ranges = row_split_ranges(m->rows, shares_, kRowGranule);
    for (size_t d = 0; d < devices_.size(); ++d) {
      auto [r0, r1] = ranges[d];
      if (r1 <= r0) continue;
      Weight rows = w;
      rows.ne[1] = r1 - r0;
      rows.nbytes = static_cast<size_t>(r1 - r0) * row_bytes;
      rows.packed = nullptr;
      rows.data = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(r0) * row_bytes;
      m->parts.push_back({static_cast<int>(d), r0, r1 - r0, place_weight(*devices_[d], rows, pack, owned_)});
    }
    matrices_.push_back(std::move(m));
    return matrices_.back().get();
  }

  void set_batch(const int32_t* pos, const int32_t* seq, int n_tokens) override {
    main().set_batch(pos, seq, n_tokens);
  }
  void get_rows(const Weight& table, const int32_t* ids, int n, float* out) override {
    main().get_rows(table, ids, n, out);
  }
  void rms_norm(const float* x, const Weight& w, float* y, int n_rows, int dim, float eps) override {
    main().rms_norm(x, w, y, n_rows, dim, eps);
  }

  void matmul(const Weight& w, const float* x, float* y, int n_tokens) override {
    if (!w.packed) throw Error("row split matmul: the matrix was not bound with split_weight");
    if (n_tokens <= 0) return;
    const SplitMatrix& m = *static_cast<const SplitMatrix*>(w.packed);
    const size_t n = static_cast<size_t>(n_tokens);
    const size_t x_floats = n * static_cast<size_t>(m.cols);
    // A part writes straight into y when its rows are contiguous there (one token, or the whole matrix).
    auto direct = [&](const Part& p) { return n == 1 || p.rows == m.rows; };
    bool remote = false;
    for (const Part& p : m.parts) remote |= p.device != main_;
    if (remote) {
      host_x_.resize(x_floats);
      main().to_host(host_x_.data(), x, x_floats * sizeof(float));
    }
    // The other devices' parts start first (on GPUs they run asynchronously), then the main device's.
    for (const Part& p : m.parts) {
      if (p.device == main_) continue;
      Backend& d = *devices_[p.device];
      float* dx = in_[p.device].get(x_floats);
      d.to_device(dx, host_x_.data(), x_floats * sizeof(float));
      d.matmul(p.w, dx, out_[p.device].get(n * p.rows), n_tokens);
    }
    for (const Part& p : m.parts) {
      if (p.device != main_) continue;
      if (direct(p)) {
        main().matmul(p.w, x, y + p.row0, n_tokens);
      } else {
        float* t = out_[main_].get(n * p.rows);
        main().matmul(p.w, x, t, n_tokens);
        main().copy_2d(y + p.row0, m.rows, t, p.rows, p.rows, n);
      }
    }
    // Gather through host memory.
    for (const Part& p : m.parts) {
      if (p.device == main_) continue;
      host_y_.resize(n * p.rows);
      devices_[p.device]->to_host(host_y_.data(), out_[p.device].p, n * p.rows * sizeof(float));
      if (direct(p)) {
        main().to_device(y + p.row0, host_y_.data(), n * p.rows * sizeof(float));
      } else {
        float* t = stage_.get(n * p.rows);
        main().to_device(t, host_y_.data(), n * p.rows * sizeof(float));
        main().copy_2d(y + p.row0, m.rows, t, p.rows, p.rows, n);
      }
    }
  }

  void rope(float* x, int n_tokens, int n_heads, int head_dim, const RopeParams& p) override {
    main().rope(x, n_tokens, n_heads, head_dim, p);
  }
  void kv_store(const float* k, const float* v, const KvLayer& kv, int n_tokens) override {
    main().kv_store(k, v, kv, n_tokens);
  }
  void attention(const float* q, const KvLayer& kv, int n_tokens, float* out, const AttentionParams& p) override {
    main().attention(q, kv, n_tokens, out, p);
  }
  void swiglu(const float* gate, const float* up, float* out, size_t n) override { main().swiglu(gate, up, out, n); }
  void add(float* x, const float* y, size_t n) override { main().add(x, y, n); }
  void layer_norm(const float* x, const Weight& w, const Weight& b, float* y, int n_rows, int dim,
                  float eps) override {
    main().layer_norm(x, w, b, y, n_rows, dim, eps);
  }
  void gelu(const float* x, float* out, size_t n) override { main().gelu(x, out, n); }
  void geglu(const float* gate, const float* up, float* out, size_t n) override { main().geglu(gate, up, out, n); }
  void add_bias(float* x, const Weight& b, int n_rows) override { main().add_bias(x, b, n_rows); }
  void scale(float* x, float s, size_t n) override { main().scale(x, s, n); }
  void gather_rows(const float* src, const int32_t* rows, int n, int width, float* dst) override {
    main().gather_rows(src, rows, n, width, dst);
  }
  void scatter_add_rows(float* dst, const float* src, const int32_t* rows, const float* scales, int n,
                        int width) override {
    main().scatter_add_rows(dst, src, rows, scales, n, width);
  }
  void copy_2d(float* dst, size_t dst_stride, const float* src, size_t src_stride, size_t width,
               size_t n_rows) override {
    main().copy_2d(dst, dst_stride, src, src_stride, width, n_rows);
  }

 private:
  Backend& main() const { return *devices_[main_]; }

  std::vector<Backend*> devices_;
  std::vector<double> shares_;
  int main_;
  std::vector<std::unique_ptr<SplitMatrix>> matrices_;
  std::vector<std::pair<Backend*, void*>> owned_;  // parts copied to device memory
  std::vector<Buffer> in_, out_;                   // per device: x and the part's y
  Buffer stage_;                                   // main device: a remote part's y before it is strided into y
  std::vector<float> host_x_, host_y_;
};

}  // namespace

std::unique_ptr<Backend> make_row_split_backend(std::vector<Backend*> devices, std::vector<double> shares,
                                                int main) {
  return std::make_unique<RowSplitBackend>(std::move(devices), std::move(shares), main);
}

}  // namespace hearth
