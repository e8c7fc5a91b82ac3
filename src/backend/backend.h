// The backend interface: memory and the ops the forward pass is written with.
// The model code (src/model/) calls only these; CPU and CUDA implement them.
//
// Conventions:
// - Activations are row-major F32 arrays on the backend: [n_tokens, width], pointers from alloc().
// - Weights are Weight views whose data lives on the backend (for the CPU: the mmap'd file itself).
// - Small per-batch host arrays (token ids, positions, sequence ids) are passed with set_batch() once per
//   forward pass; rope, kv_store and attention use them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quant/dtype.h"

namespace hearth {

// A weight tensor on a backend. ne[0] is the row length: a matrix is ne[1] rows of ne[0] elements.
struct Weight {
  DType type = DType::F32;
  int64_t ne[4] = {1, 1, 1, 1};
  const void* data = nullptr;
  size_t nbytes = 0;
  // The same matrix in a layout the backend's matmul reads faster (Backend::pack_weight), or null.
  const void* packed = nullptr;
  int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
  int64_t cols() const { return ne[0]; }
};

struct RopeParams {
  int n_rot = 0;                         // rotated dims per head (<= head_dim)
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;               // 1 / linear scaling factor
  bool neox = false;                     // NeoX ordering: pairs (i, i + n_rot/2) instead of (2i, 2i+1)
  const float* freq_factors = nullptr;   // [n_rot/2] host array (Llama-3.1 rope scaling, LongRoPE) or null
  float attn_factor = 1.0f;              // multiplies the rotated values (LongRoPE's magnitude scaling)
};

// One layer's KV cache: n_seq slots of n_ctx rows of kv_dim elements, for K and for V.
struct KvLayer {
  void* k = nullptr;        // [n_seq, n_ctx, kv_dim] of type
  void* v = nullptr;        // [n_seq, n_ctx, kv_dim] of type
  DType type = DType::F16;  // F16 or F32
  int n_ctx = 0;
  int kv_dim = 0;
};

struct AttentionParams {
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  float scale = 1.0f;  // usually 1/sqrt(head_dim)
  int window = 0;      // sliding window: a query at position p sees keys p - window + 1 .. p; 0: all (causal)
  float softcap = 0;   // scores s become softcap * tanh(s / softcap) before the softmax (Gemma 2); 0: none
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "CPU", "CUDA0"
  // True when backend memory is ordinary host memory (weights can be used in place from the mapping).
  virtual bool is_host() const = 0;
  virtual size_t free_memory() const = 0;

  // Memory. Device pointers are only valid for this backend.
  virtual void* alloc(size_t bytes) = 0;
  virtual void release(void* p) = 0;
  virtual void to_device(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void to_host(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() {}
  // A copy of matrix w (whose data is valid host or backend memory) in a layout this backend's matmul reads
  // faster, owned by the backend; nullptr when it has none for w's type. Set it as w.packed.
  virtual const void* pack_weight(const Weight& w) {
    (void)w;
    return nullptr;
  }
  // For a matrix pack_weight leaves alone: a copy of w's bytes, same layout, in memory the backend streams
  // faster than the file mapping (CPU: huge pages, which the hardware prefetchers do not stop at every 4 KiB),
  // owned by the backend; nullptr for none. Set it as w.data.
  virtual const void* copy_weight(const Weight& w) {
    (void)w;
    return nullptr;
  }
  // For a backend that spreads every matrix over several devices (--split-mode row): takes matrix w, whose data is
  // host memory, and returns the backend's own handle for it, to set as w.packed (w.data is then unused); pack:
  // let the devices keep their parts in a faster layout. nullptr (the default): the backend holds whole matrices.
  virtual const void* split_weight(const Weight& w, bool pack) {
    (void)w, (void)pack;
    return nullptr;
  }

  // Per-batch host arrays of n_tokens entries: token positions and the sequence (KV slot) of each token.
  virtual void set_batch(const int32_t* pos, const int32_t* seq, int n_tokens) = 0;

  // out[i, :] = table row ids[i] (dequantized). ids are host memory.
  virtual void get_rows(const Weight& table, const int32_t* ids, int n, float* out) = 0;
  // y = x / rms(x) * w, per row of dim elements; w is an F32 weight of dim elements.
  virtual void rms_norm(const float* x, const Weight& w, float* y, int n_rows, int dim, float eps) = 0;
  // y[t, r] = sum_c W[r, c] * x[t, c]   (W: w.rows() x w.cols(), x: [n_tokens, cols], y: [n_tokens, rows])
  virtual void matmul(const Weight& w, const float* x, float* y, int n_tokens) = 0;
  // Rotates x: [n_tokens, n_heads * head_dim] in place at the batch positions.
  virtual void rope(float* x, int n_tokens, int n_heads, int head_dim, const RopeParams& p) = 0;
  // Writes k, v: [n_tokens, kv_dim] into the cache at (seq, pos) of each token.
  virtual void kv_store(const float* k, const float* v, const KvLayer& kv, int n_tokens) = 0;
  // Causal attention: token t of sequence s at position p attends to cache rows 0..p of slot s.
  // q, out: [n_tokens, n_head * head_dim].
  virtual void attention(const float* q, const KvLayer& kv, int n_tokens, float* out, const AttentionParams& p) = 0;
  // out = silu(gate) * up, elementwise over n values.
  virtual void swiglu(const float* gate, const float* up, float* out, size_t n) = 0;
  // x += y over n values.
  virtual void add(float* x, const float* y, size_t n) = 0;
  // The ops of the other architectures' blocks (GPT-2, StarCoder, Falcon, Gemma, Qwen2...):
  // y = (x - mean(x)) / sqrt(var(x) + eps) * w + b per row of dim elements; w and b are F32 weights of dim
  // elements, b may be empty (data null).
  virtual void layer_norm(const float* x, const Weight& w, const Weight& b, float* y, int n_rows, int dim,
                          float eps) = 0;
  // out = gelu(x), the tanh approximation, over n values.
  virtual void gelu(const float* x, float* out, size_t n) = 0;
  // out = gelu(gate) * up over n values.
  virtual void geglu(const float* gate, const float* up, float* out, size_t n) = 0;
  // x[r, :] += b for n_rows rows of b.cols() values (b: an F32 weight).
  virtual void add_bias(float* x, const Weight& b, int n_rows) = 0;
  // x *= s over n values.
  virtual void scale(float* x, float s, size_t n) = 0;
  // Mixture-of-experts routing: dst[i, :] = src[rows[i], :] for i < n, rows of width values (rows: host).
  virtual void gather_rows(const float* src, const int32_t* rows, int n, int width, float* dst) = 0;
  // dst[rows[i], :] += scales[i] * src[i, :] for i < n (rows, scales: host; rows distinct).
  virtual void scatter_add_rows(float* dst, const float* src, const int32_t* rows, const float* scales, int n,
                                int width) = 0;
  // dst[r * dst_stride + i] = src[r * src_stride + i] for r < n_rows, i < width (both on this backend).
  virtual void copy_2d(float* dst, size_t dst_stride, const float* src, size_t src_stride, size_t width,
                       size_t n_rows) = 0;
};

// The devices hearth can use, CPU first.
struct DeviceInfo {
  std::string name;
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};

// name: how plans and errors call it ("CPU"; tests that stand CPU backends in for GPUs give others).
std::unique_ptr<Backend> make_cpu_backend(int n_threads, const std::string& name = "CPU");
// CUDA device count (0 when built without CUDA or when no GPU/driver is present; never throws).
int cuda_device_count();
std::vector<DeviceInfo> cuda_devices();
// Why there is no CUDA device to use ("built without CUDA", the driver's error, ...); empty when there is one.
std::string cuda_unavailable_reason();
// Throws hearth::Error when the device cannot be used.
std::unique_ptr<Backend> make_cuda_backend(int device);

}  // namespace hearth
