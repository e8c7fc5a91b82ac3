// The CPU backend: host memory, ops split across a thread pool.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sys/mman.h>
#include <string>
#include <vector>
#include <utility>

#include "backend/backend.h"
#include "backend/cpu/activation.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/layer_ops.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/packed.h"
#include "backend/cpu/thread_pool.h"
#include "hearth/error.h"

namespace hearth {
namespace {

size_t available_host_memory() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  size_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// Memory for large read-mostly buffers, in transparent huge pages where the kernel allows them (fewer TLB
// misses while weights stream).
uint8_t* alloc_huge(size_t bytes) {
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t size = (std::max<size_t>(bytes, 1) + kHuge - 1) / kHuge * kHuge;
  void* p = std::aligned_alloc(kHuge, size);
  if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
  madvise(p, size, MADV_HUGEPAGE);
  return static_cast<uint8_t*>(p);
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(int n_threads, std::string name) : pool_(n_threads), name_(std::move(name)) {}

  std::string name() const override { return name_; }
  bool is_host() const override { return true; }
  size_t free_memory() const override { return available_host_memory(); }

  void* alloc(size_t bytes) override {
    void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
    if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  void release(void* p) override { std::free(p); }
  void to_device(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void to_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }

  const void* pack_weight(const Weight& w) override {
    if (!cpu::packable(w.type) || w.cols() % 32 != 0) return nullptr;
    const size_t bytes = cpu::packed_bytes(w.type, w.rows(), w.cols());
    packed_.emplace_back(alloc_huge(bytes), &std::free);
    uint8_t* dst = packed_.back().get();
    const size_t gb = cpu::packed_group_bytes(w.type, w.cols());
    const int64_t groups = (w.rows() + cpu::kPackRows - 1) / cpu::kPackRows;
    pool_.parallel_for(groups, [&](int64_t b, int64_t e, int) {
      for (int64_t g = b; g < e; ++g)
        cpu::pack_group(w.type, static_cast<const uint8_t*>(w.data), w.rows(), w.cols(), g, dst + g * gb);
    });
    return dst;
  }

  const void* copy_weight(const Weight& w) override {
    packed_.emplace_back(alloc_huge(w.nbytes), &std::free);
    uint8_t* dst = packed_.back().get();
    const auto* src = static_cast<const uint8_t*>(w.data);
    constexpr int64_t kChunk = int64_t(1) << 20;
    pool_.parallel_for((static_cast<int64_t>(w.nbytes) + kChunk - 1) / kChunk, [&](int64_t b, int64_t e, int) {
      const size_t lo = b * kChunk, hi = std::min(w.nbytes, static_cast<size_t>(e * kChunk));
      std::memcpy(dst + lo, src + lo, hi - lo);
    });
    return dst;
  }

  void set_batch(const int32_t* pos, const int32_t* seq, int n_tokens) override {
    pos_.assign(pos, pos + n_tokens);
    seq_.assign(seq, seq + n_tokens);
  }

  void get_rows(const Weight& table, const int32_t* ids, int n, float* out) override {
    for (int i = 0; i < n; ++i) {
      if (ids[i] < 0 || ids[i] >= table.rows()) throw Error("token id " + std::to_string(ids[i]) + " out of range");
      cpu::get_row(table, ids[i], out + static_cast<int64_t>(i) * table.cols());
    }
  }

  void rms_norm(const float* x, const Weight& w, float* y, int n_rows, int dim, float eps) override {
    const float* wf = static_cast<const float*>(w.data);
    for (int r = 0; r < n_rows; ++r) {
      const float* xr = x + static_cast<int64_t>(r) * dim;
      float* yr = y + static_cast<int64_t>(r) * dim;
      double ss = 0;
      for (int i = 0; i < dim; ++i) ss += static_cast<double>(xr[i]) * xr[i];
      float scale = 1.0f / std::sqrt(static_cast<float>(ss / dim) + eps);
      for (int i = 0; i < dim; ++i) yr[i] = xr[i] * scale * wf[i];
    }
  }

  void matmul(const Weight& w, const float* x, float* y, int n_tokens) override {
    cpu::matmul(w, x, y, n_tokens, pool_, scratch_);
  }

  void rope(float* x, int n_tokens, int n_heads, int head_dim, const RopeParams& p) override {
    const int half = p.n_rot / 2;
    freq_.resize(half);
    cos_.resize(half);
    sin_.resize(half);
    for (int i = 0; i < half; ++i) {
      freq_[i] = std::pow(p.freq_base, -2.0f * i / p.n_rot);
      if (p.freq_factors) freq_[i] /= p.freq_factors[i];
    }
    for (int t = 0; t < n_tokens; ++t) {
      // The angles of a position, once for all its heads.
      for (int i = 0; i < half; ++i) {
        const float theta = static_cast<float>(pos_[t]) * p.freq_scale * freq_[i];
        cos_[i] = std::cos(theta) * p.attn_factor, sin_[i] = std::sin(theta) * p.attn_factor;
      }
      for (int h = 0; h < n_heads; ++h) {
        float* v = x + (static_cast<int64_t>(t) * n_heads + h) * head_dim;
        for (int i = 0; i < half; ++i) {
          const float c = cos_[i], s = sin_[i];
          int a = p.neox ? i : 2 * i, b = p.neox ? i + half : 2 * i + 1;
          float x0 = v[a], x1 = v[b];
          v[a] = x0 * c - x1 * s;
          v[b] = x0 * s + x1 * c;
        }
      }
    }
  }

  void kv_store(const float* k, const float* v, const KvLayer& kv, int n_tokens) override {
    cpu::kv_store(k, v, kv, n_tokens, pos_.data(), seq_.data());
  }

  void attention(const float* q, const KvLayer& kv, int n_tokens, float* out, const AttentionParams& p) override {
    cpu::attention(q, kv, n_tokens, pos_.data(), seq_.data(), out, p, pool_);
  }

  void swiglu(const float* gate, const float* up, float* out, size_t n) override {
    split(n, [&](size_t b, size_t e) {
      cpu::swiglu(gate + b, up + b, out + b, e - b);
    });
  }

  void add(float* x, const float* y, size_t n) override {
    split(n, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) x[i] += y[i];
    });
  }

  void layer_norm(const float* x, const Weight& w, const Weight& b, float* y, int n_rows, int dim,
                  float eps) override {
    cpu::layer_norm_ref(x, static_cast<const float*>(w.data), static_cast<const float*>(b.data), y, n_rows, dim, eps);
  }

  void gelu(const float* x, float* out, size_t n) override {
    split(n, [&](size_t b, size_t e) { cpu::gelu(x + b, out + b, e - b); });
  }

  void geglu(const float* gate, const float* up, float* out, size_t n) override {
    split(n, [&](size_t b, size_t e) { cpu::geglu(gate + b, up + b, out + b, e - b); });
  }

  void add_bias(float* x, const Weight& b, int n_rows) override {
    cpu::add_bias_ref(x, static_cast<const float*>(b.data), n_rows, static_cast<int>(b.cols()));
  }

  void scale(float* x, float s, size_t n) override {
    split(n, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) x[i] *= s;
    });
  }

  void gather_rows(const float* src, const int32_t* rows, int n, int width, float* dst) override {
    cpu::gather_rows_ref(src, rows, n, width, dst);
  }

  void scatter_add_rows(float* dst, const float* src, const int32_t* rows, const float* scales, int n,
                        int width) override {
    cpu::scatter_add_rows_ref(dst, src, rows, scales, n, width);
  }

  void copy_2d(float* dst, size_t dst_stride, const float* src, size_t src_stride, size_t width,
               size_t n_rows) override {
    for (size_t r = 0; r < n_rows; ++r) std::memcpy(dst + r * dst_stride, src + r * src_stride, width * sizeof(float));
  }

 private:
  // Elementwise work on the pool when it is large enough to pay for the wake-up.
  template <class F>
  void split(size_t n, F&& f) {
    if (n < 32768 || pool_.size() == 1) return f(size_t{0}, n);
    pool_.parallel_for(static_cast<int64_t>(n), [&](int64_t b, int64_t e, int) { f(static_cast<size_t>(b), static_cast<size_t>(e)); });
  }

  ThreadPool pool_;
  std::string name_;
  std::vector<std::unique_ptr<uint8_t, decltype(&std::free)>> packed_;
  cpu::MatmulScratch scratch_;
  std::vector<int32_t> pos_, seq_;
  std::vector<float> freq_, cos_, sin_;  // rope scratch
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads, const std::string& name) {
  return std::make_unique<CpuBackend>(n_threads, name);
}

}  // namespace hearth
