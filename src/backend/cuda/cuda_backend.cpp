// The CUDA backend: device memory, one stream on which every op is queued asynchronously (to_host and
// synchronize wait for it), and scratch buffers reused between calls.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/kernels.h"
#include "hearth/error.h"
#include "quant/quant.h"

namespace hearth {
namespace cuda {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}

namespace {

const char* cublas_status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "error";
  }
}

void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("cuBLAS ") + what + " failed: " + cublas_status_name(s) + " (" +
                std::to_string(static_cast<int>(s)) + ")");
}

std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// A device buffer that only grows; freed with the backend.
struct Scratch {
  void* p = nullptr;
  size_t size = 0;
  void* get(size_t bytes, int device) {
    if (bytes <= size) return p;
    if (p) cudaFree(p);
    p = nullptr;
    size = 0;
    bytes = std::max(bytes, size_t{1} << 20) + 256;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      cudaGetLastError();
      throw Error("CUDA" + std::to_string(device) + ": out of device memory allocating " + mib(bytes) +
                  " of scratch");
    }
    size = bytes;
    return p;
  }
  void release() {
    if (p) cudaFree(p);
    p = nullptr;
    size = 0;
  }
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
      cudaGetLastError();
      throw Error("no CUDA device is available");
    }
    if (device < 0 || device >= n)
      throw Error("CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(n) + " found)");
    check(cudaSetDevice(device), "cudaSetDevice");
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    n_sm_ = prop.multiProcessorCount;
    std::string why;
    if (!has_kernel_image(device, &why))
      throw Error("CUDA" + std::to_string(device) + " (" + prop.name + ", compute capability " +
                  std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                  ") cannot run this build's kernels (" + why + "); rebuild with -DCMAKE_CUDA_ARCHITECTURES=" +
                  std::to_string(prop.major) + std::to_string(prop.minor));
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    if (cublasCreate(&blas_) != CUBLAS_STATUS_SUCCESS) {
      cudaStreamDestroy(stream_);
      throw Error("CUDA" + std::to_string(device) + ": cuBLAS could not be initialized");
    }
    cublasSetStream(blas_, stream_);
  }

  ~CudaBackend() override {
    cudaSetDevice(device_);
    cudaStreamSynchronize(stream_);
    for (Scratch* s : {&acts_, &wf16_, &xf16_, &part_, &ids_, &batch_, &freq_}) s->release();
    cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "CUDA" + std::to_string(device_); }
  bool is_host() const override { return false; }
  size_t free_memory() const override {
    cudaSetDevice(device_);
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return free;
  }

  void* alloc(size_t bytes) override {
    use();
    void* p = nullptr;
    // Padded: the matvec decoders read a few bytes past the end of a weight's last block.
    if (cudaMalloc(&p, bytes + 256) != cudaSuccess) {
      cudaGetLastError();
      throw Error(name() + ": out of device memory allocating " + mib(bytes) + " (" + mib(free_memory()) +
                  " free)");
    }
    return p;
  }
  void release(void* p) override {
    if (!p) return;
    use();
    cudaStreamSynchronize(stream_);
    cudaFree(p);
  }
  void to_device(void* dst, const void* src, size_t bytes) override {
    use();
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "to_device");
  }
  void to_host(void* dst, const void* src, size_t bytes) override {
    use();
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "to_host");
    check(cudaStreamSynchronize(stream_), "to_host");
  }
  void synchronize() override {
    use();
    check(cudaStreamSynchronize(stream_), "synchronize");
  }

  void set_batch(const int32_t* pos, const int32_t* seq, int n_tokens) override {
    use();
    pos_.assign(pos, pos + n_tokens);
    // pos and seq side by side in one upload; the host copy stays alive until the copy has been staged.
    staging_.resize(2 * static_cast<size_t>(n_tokens));
    std::copy(pos, pos + n_tokens, staging_.begin());
    std::copy(seq, seq + n_tokens, staging_.begin() + n_tokens);
    auto* d = static_cast<int32_t*>(batch_.get(staging_.size() * sizeof(int32_t), device_));
    check(cudaMemcpyAsync(d, staging_.data(), staging_.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream_),
          "set_batch");
    pos_d_ = d;
    seq_d_ = d + n_tokens;
    n_batch_ = n_tokens;
  }

  void get_rows(const Weight& table, const int32_t* ids, int n, float* out) override {
    use();
    for (int i = 0; i < n; ++i)
      if (ids[i] < 0 || ids[i] >= table.rows()) throw Error("token id " + std::to_string(ids[i]) + " out of range");
    auto* d = static_cast<int32_t*>(ids_.get(static_cast<size_t>(n) * sizeof(int32_t), device_));
    check(cudaMemcpyAsync(d, ids, static_cast<size_t>(n) * sizeof(int32_t), cudaMemcpyHostToDevice, stream_),
          "get_rows ids");
    cuda::get_rows(table, d, n, out, stream_);
  }

  void rms_norm(const float* x, const Weight& w, float* y, int n_rows, int dim, float eps) override {
    use();
    if (w.type != DType::F32) throw Error("CUDA rms_norm: the norm weight must be F32");
    cuda::rms_norm(x, static_cast<const float*>(w.data), y, n_rows, dim, eps, stream_);
  }

  void matmul(const Weight& w, const float* x, float* y, int n_tokens) override {
    set_device();
    if (n_tokens <= 0) return;
    const int64_t rows = w.rows(), cols = w.cols();
    const bool quant = w.type != DType::F32 && w.type != DType::F16 && w.type != DType::BF16;
    if (quant && cols % dtype_info(w.type).block_size != 0)
      throw Error("CUDA matmul: row length " + std::to_string(cols) + " is not a multiple of the " +
                  std::string(dtype_name(w.type)) + " block size");
    if (n_tokens <= kMaxMatvecTokens) {
      QuantizedActs a;
      if (quant) {
        // Q, K and V (gate and up) read the same x: it is quantized once while no other op has run.
        const size_t nq = static_cast<size_t>(n_tokens) * cols;
        const bool cached = acts_x_ == x && acts_n_ == n_tokens && acts_cols_ == cols;
        if (!cached) acts_x_ = nullptr;
        auto* base = static_cast<uint8_t*>(acts_.get(nq + nq / 32 * sizeof(float4) + 256, device_));
        a.q = reinterpret_cast<int8_t*>(base);
        a.s = reinterpret_cast<float4*>(base + (nq + 255) / 256 * 256);
        if (!cached) {
          quantize_acts(x, a, n_tokens, static_cast<int>(cols), stream_);
          acts_x_ = x, acts_n_ = n_tokens, acts_cols_ = cols;
        }
      }
      cuda::matvec(w, x, a, y, n_tokens, stream_);
      // y overwriting the cached x (in-place use) invalidates it.
      if (acts_x_ && y < acts_x_ + static_cast<size_t>(acts_n_) * acts_cols_ &&
          acts_x_ < y + static_cast<size_t>(n_tokens) * rows)
        acts_x_ = nullptr;
      return;
    }
    acts_x_ = nullptr;
    gemm(w, x, y, n_tokens, rows, cols);
  }

  void rope(float* x, int n_tokens, int n_heads, int head_dim, const RopeParams& p) override {
    use();
    check_batch(n_tokens, "rope");
    const int half = p.n_rot / 2;
    if (half <= 0) return;
    // The same per-pair frequencies as the CPU backend, computed here in float and uploaded when changed.
    freq_host_.resize(half);
    for (int i = 0; i < half; ++i) {
      float freq = std::pow(p.freq_base, -2.0f * i / p.n_rot);
      if (p.freq_factors) freq /= p.freq_factors[i];
      freq_host_[i] = p.freq_scale * freq;
    }
    if (freq_host_ != freq_uploaded_) {
      auto* d = static_cast<float*>(freq_.get(half * sizeof(float), device_));
      freq_uploaded_ = freq_host_;
      check(cudaMemcpyAsync(d, freq_uploaded_.data(), half * sizeof(float), cudaMemcpyHostToDevice, stream_),
            "rope frequencies");
    }
    cuda::rope(x, n_tokens, n_heads, head_dim, p.n_rot, p.neox, static_cast<const float*>(freq_.p), p.attn_factor,
               pos_d_, stream_);
  }

  void kv_store(const float* k, const float* v, const KvLayer& kv, int n_tokens) override {
    use();
    check_batch(n_tokens, "kv_store");
    cuda::kv_store(k, v, kv, n_tokens, pos_d_, seq_d_, stream_);
  }

  void attention(const float* q, const KvLayer& kv, int n_tokens, float* out, const AttentionParams& p) override {
    use();
    check_batch(n_tokens, "attention");
    int max_keys = 0;
    for (int i = 0; i < n_tokens; ++i) max_keys = std::max(max_keys, pos_[i] + 1);
    const int n_splits = attention_splits(n_tokens, p.n_head, max_keys, n_sm_);
    const size_t nf = attention_scratch_floats(n_tokens, p, n_splits);
    float* part = nf ? static_cast<float*>(part_.get(nf * sizeof(float), device_)) : nullptr;
    cuda::attention(q, kv, n_tokens, pos_d_, seq_d_, out, p, max_keys, n_splits, part, stream_);
  }

  void swiglu(const float* gate, const float* up, float* out, size_t n) override {
    use();
    cuda::swiglu(gate, up, out, n, stream_);
  }
  void add(float* x, const float* y, size_t n) override {
    use();
    cuda::add(x, y, n, stream_);
  }
  void layer_norm(const float* x, const Weight& w, const Weight& b, float* y, int n_rows, int dim,
                  float eps) override {
    use();
    if (w.type != DType::F32 || (b.data && b.type != DType::F32))
      throw Error("CUDA layer_norm: the norm weight and bias must be F32");
    cuda::layer_norm(x, static_cast<const float*>(w.data), static_cast<const float*>(b.data), y, n_rows, dim, eps,
                     stream_);
  }
  void gelu(const float* x, float* out, size_t n) override {
    use();
    cuda::gelu(x, nullptr, out, n, stream_);
  }
  void geglu(const float* gate, const float* up, float* out, size_t n) override {
    use();
    cuda::gelu(gate, up, out, n, stream_);
  }
  void add_bias(float* x, const Weight& b, int n_rows) override {
    use();
    if (b.type != DType::F32) throw Error("CUDA add_bias: the bias must be F32");
    cuda::add_bias(x, static_cast<const float*>(b.data), n_rows, static_cast<int>(b.cols()), stream_);
  }
  void scale(float* x, float s, size_t n) override {
    use();
    cuda::scale(x, s, n, stream_);
  }
  void gather_rows(const float* src, const int32_t* rows, int n, int width, float* dst) override {
    use();
    if (n <= 0) return;
    const int32_t* d = upload_route(rows, nullptr, n);
    cuda::gather_rows(src, d, n, width, dst, stream_);
  }
  void scatter_add_rows(float* dst, const float* src, const int32_t* rows, const float* scales, int n,
                        int width) override {
    use();
    if (n <= 0) return;
    const int32_t* d = upload_route(rows, scales, n);
    cuda::scatter_add_rows(dst, src, d, reinterpret_cast<const float*>(d + n), n, width, stream_);
  }
  void copy_2d(float* dst, size_t dst_stride, const float* src, size_t src_stride, size_t width,
               size_t n_rows) override {
    use();
    if (width == 0 || n_rows == 0) return;
    check(cudaMemcpy2DAsync(dst, dst_stride * sizeof(float), src, src_stride * sizeof(float), width * sizeof(float),
                            n_rows, cudaMemcpyDeviceToDevice, stream_),
          "copy_2d");
  }

 private:
  void set_device() const { check(cudaSetDevice(device_), "cudaSetDevice"); }
  // n row indices, then n scales when given, in one upload to the routing scratch (stream-ordered, so the next
  // upload waits for the kernels reading this one).
  const int32_t* upload_route(const int32_t* rows, const float* scales, int n) {
    route_staging_.resize(2 * static_cast<size_t>(n));
    std::copy(rows, rows + n, route_staging_.begin());
    if (scales) std::memcpy(route_staging_.data() + n, scales, static_cast<size_t>(n) * sizeof(float));
    const size_t bytes = (scales ? 2 : 1) * static_cast<size_t>(n) * sizeof(int32_t);
    auto* d = static_cast<int32_t*>(route_.get(bytes, device_));
    check(cudaMemcpyAsync(d, route_staging_.data(), bytes, cudaMemcpyHostToDevice, stream_), "route upload");
    return d;
  }
  // Every op but matmul may write device memory, so it forgets the quantized activations.
  void use() {
    set_device();
    acts_x_ = nullptr;
  }

  void check_batch(int n_tokens, const char* op) const {
    if (n_tokens > n_batch_)
      throw Error(std::string("CUDA ") + op + ": " + std::to_string(n_tokens) + " tokens but set_batch gave " +
                  std::to_string(n_batch_));
  }

  // Prompt batches: W dequantized to F16 in scratch, x converted to F16, one cuBLAS GEMM with F32 accumulation.
  void gemm(const Weight& w, const float* x, float* y, int n_tokens, int64_t rows, int64_t cols) {
    const float alpha = 1.0f, beta = 0.0f;
    const int m = static_cast<int>(rows), n = n_tokens, k = static_cast<int>(cols);
    if (w.type == DType::F32) {
      check_cublas(cublasSgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, static_cast<const float*>(w.data), k,
                               x, k, &beta, y, m),
                   "sgemm");
      return;
    }
    const __half* wh = static_cast<const __half*>(w.data);
    if (w.type != DType::F16) {
      auto* d = static_cast<__half*>(wf16_.get(static_cast<size_t>(rows) * cols * sizeof(__half), device_));
      dequantize_f16(w, d, rows, stream_);
      wh = d;
    }
    auto* xh = static_cast<__half*>(xf16_.get(static_cast<size_t>(n_tokens) * cols * sizeof(__half), device_));
    f32_to_f16(x, xh, static_cast<int64_t>(n_tokens) * cols, stream_);
    check_cublas(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, wh, CUDA_R_16F, k, xh, CUDA_R_16F, k,
                              &beta, y, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "gemm");
  }

  int device_;
  int n_sm_ = 1;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  Scratch acts_, wf16_, xf16_, part_, ids_, batch_, freq_, route_;
  std::vector<int32_t> route_staging_;
  std::vector<int32_t> pos_, staging_;
  std::vector<float> freq_host_, freq_uploaded_;
  const float* acts_x_ = nullptr;  // the x whose quantized form acts_ holds, or null
  int acts_n_ = 0;
  int64_t acts_cols_ = 0;
  const int32_t* pos_d_ = nullptr;
  const int32_t* seq_d_ = nullptr;
  int n_batch_ = 0;
};

}  // namespace
}  // namespace cuda

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

std::string cuda_unavailable_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return std::string("CUDA: ") + cudaGetErrorString(e);
  }
  return n > 0 ? std::string() : "CUDA: no device found";
}

std::vector<DeviceInfo> cuda_devices() {
  std::vector<DeviceInfo> out;
  const int n = cuda_device_count();
  int current = 0;
  cudaGetDevice(&current);
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    DeviceInfo d;
    d.name = prop.name;
    d.total_bytes = prop.totalGlobalMem;
    if (cudaSetDevice(i) == cudaSuccess) {
      size_t free = 0, total = 0;
      if (cudaMemGetInfo(&free, &total) == cudaSuccess) d.free_bytes = free, d.total_bytes = total;
    }
    cudaGetLastError();
    out.push_back(d);
  }
  if (n > 0) cudaSetDevice(current);
  return out;
}

std::unique_ptr<Backend> make_cuda_backend(int device) { return std::make_unique<cuda::CudaBackend>(device); }

}  // namespace hearth
