// Causal attention over the KV cache, fused: scores, online softmax and the weighted sum of V in one pass.
// One block per (token, head) and key range; long contexts are split into key ranges whose partial
// results (max, sum, unnormalized output) a second kernel merges, so that a single decoded token still
// fills the device. Within a block each warp takes every 4th key: lanes split the head dimension.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "backend/cuda/common.cuh"
#include "backend/cuda/kernels.h"

namespace hearth::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxHeadDim = 256;

__device__ __forceinline__ float load_kv(const float* p) { return *p; }
__device__ __forceinline__ float load_kv(const __half* p) { return __half2float(*p); }

// EPL: head-dimension elements per lane (head_dim <= 32 * EPL).
template <int EPL, typename KV>
__global__ void __launch_bounds__(32 * kWarps)
    attention_kernel(const float* __restrict__ q, const KV* __restrict__ kc, const KV* __restrict__ vc,
                     float* __restrict__ out, float* __restrict__ part, const int32_t* __restrict__ pos,
                     const int32_t* __restrict__ seq, int n_head, int group, int hd, int kv_dim, int n_ctx,
                     float scale, int keys_per_split, int window, float softcap) {
  const int th = blockIdx.x;  // token * n_head + head
  const int t = th / n_head, h = th % n_head, kvh = h / group;
  const int n_keys = pos[t] + 1;
  const int first = window > 0 ? max(0, n_keys - window) : 0;  // the oldest key a sliding window sees
  const int k0 = max(first, static_cast<int>(blockIdx.y) * keys_per_split);
  const int k1 = min(n_keys, static_cast<int>(blockIdx.y + 1) * keys_per_split);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  float qr[EPL], acc[EPL];
  const float* qh = q + static_cast<size_t>(th) * hd;
#pragma unroll
  for (int e = 0; e < EPL; ++e) {
    const int d = lane + 32 * e;
    qr[e] = d < hd ? qh[d] * scale : 0.0f;
    acc[e] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const size_t base = static_cast<size_t>(seq[t]) * n_ctx * kv_dim + static_cast<size_t>(kvh) * hd;
#pragma unroll 2
  for (int j = k0 + warp; j < k1; j += kWarps) {
    const KV* kr = kc + base + static_cast<size_t>(j) * kv_dim;
    const KV* vr = vc + base + static_cast<size_t>(j) * kv_dim;
    float s = 0.0f, vv[EPL];
#pragma unroll
    for (int e = 0; e < EPL; ++e) {
      const int d = lane + 32 * e;
      if (d < hd) {
        s += qr[e] * load_kv(kr + d);
        vv[e] = load_kv(vr + d);
      } else {
        vv[e] = 0.0f;
      }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (softcap > 0.0f) s = softcap * tanhf(s / softcap);
    const float mn = fmaxf(m, s);
    const float corr = __expf(m - mn), p = __expf(s - mn);
    l = l * corr + p;
#pragma unroll
    for (int e = 0; e < EPL; ++e) acc[e] = acc[e] * corr + p * vv[e];
    m = mn;
  }

  __shared__ float sm_acc[kWarps][32 * EPL];
  __shared__ float sm_m[kWarps], sm_l[kWarps];
#pragma unroll
  for (int e = 0; e < EPL; ++e) sm_acc[warp][lane + 32 * e] = acc[e];
  if (lane == 0) sm_m[warp] = m, sm_l[warp] = l;
  __syncthreads();

  float mx = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sm_m[w]);
  float f[kWarps], sum = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    f[w] = mx == -INFINITY ? 0.0f : __expf(sm_m[w] - mx);
    sum += sm_l[w] * f[w];
  }
  if (gridDim.y == 1) {
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
      float a = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) a += sm_acc[w][d] * f[w];
      out[static_cast<size_t>(th) * hd + d] = a * inv;
    }
  } else {
    float* pr = part + (static_cast<size_t>(th) * gridDim.y + blockIdx.y) * (hd + 2);
    if (threadIdx.x == 0) pr[0] = mx, pr[1] = sum;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
      float a = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) a += sm_acc[w][d] * f[w];
      pr[2 + d] = a;
    }
  }
}

// Merges the key-range partials of one (token, head).
__global__ void attention_merge_kernel(const float* __restrict__ part, float* __restrict__ out, int hd, int n_splits) {
  const int th = blockIdx.x;
  const float* pr = part + static_cast<size_t>(th) * n_splits * (hd + 2);
  float mx = -INFINITY;
  for (int s = 0; s < n_splits; ++s) mx = fmaxf(mx, pr[s * (hd + 2)]);
  float sum = 0.0f;
  for (int s = 0; s < n_splits; ++s) {
    const float m = pr[s * (hd + 2)];
    if (m != -INFINITY) sum += pr[s * (hd + 2) + 1] * __expf(m - mx);
  }
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.0f;
    for (int s = 0; s < n_splits; ++s) {
      const float m = pr[s * (hd + 2)];
      if (m != -INFINITY) a += pr[s * (hd + 2) + 2 + d] * __expf(m - mx);
    }
    out[static_cast<size_t>(th) * hd + d] = a * inv;
  }
}

template <int EPL, typename KV>
void launch(const float* q, const KvLayer& kv, int n_tokens, const int32_t* pos, const int32_t* seq, float* out,
            const AttentionParams& p, int keys_per_split, int n_splits, float* part, cudaStream_t stream) {
  const dim3 grid(n_tokens * p.n_head, n_splits);
  attention_kernel<EPL, KV><<<grid, 32 * kWarps, 0, stream>>>(
      q, static_cast<const KV*>(kv.k), static_cast<const KV*>(kv.v), out, part, pos, seq, p.n_head,
      p.n_head / p.n_head_kv, p.head_dim, kv.kv_dim, kv.n_ctx, p.scale, keys_per_split, p.window, p.softcap);
}

template <typename KV>
void launch_hd(const float* q, const KvLayer& kv, int n_tokens, const int32_t* pos, const int32_t* seq, float* out,
               const AttentionParams& p, int keys_per_split, int n_splits, float* part, cudaStream_t stream) {
  if (p.head_dim <= 64)
    launch<2, KV>(q, kv, n_tokens, pos, seq, out, p, keys_per_split, n_splits, part, stream);
  else if (p.head_dim <= 128)
    launch<4, KV>(q, kv, n_tokens, pos, seq, out, p, keys_per_split, n_splits, part, stream);
  else
    launch<8, KV>(q, kv, n_tokens, pos, seq, out, p, keys_per_split, n_splits, part, stream);
}

}  // namespace

int attention_splits(int n_tokens, int n_head, int max_keys, int n_sm) {
  // Enough blocks for several waves, but at least 128 keys per range.
  const int64_t pairs = static_cast<int64_t>(n_tokens) * n_head, target = 16LL * n_sm;
  if (pairs >= target) return 1;
  const int64_t s = std::min<int64_t>((target + pairs - 1) / pairs, (max_keys + 127) / 128);
  return static_cast<int>(std::clamp<int64_t>(s, 1, 256));
}

size_t attention_scratch_floats(int n_tokens, const AttentionParams& p, int n_splits) {
  return n_splits <= 1 ? 0 : static_cast<size_t>(n_tokens) * p.n_head * n_splits * (p.head_dim + 2);
}

void attention(const float* q, const KvLayer& kv, int n_tokens, const int32_t* pos, const int32_t* seq, float* out,
               const AttentionParams& p, int max_keys, int n_splits, float* part, cudaStream_t stream) {
  if (n_tokens <= 0) return;
  if (p.head_dim > kMaxHeadDim || p.head_dim <= 0)
    throw Error("CUDA attention: head_dim " + std::to_string(p.head_dim) + " is not supported (max " +
                std::to_string(kMaxHeadDim) + ")");
  if (p.n_head_kv <= 0 || p.n_head % p.n_head_kv != 0)
    throw Error("CUDA attention: n_head " + std::to_string(p.n_head) + " is not a multiple of n_head_kv " +
                std::to_string(p.n_head_kv));
  const int keys_per_split = (max_keys + n_splits - 1) / n_splits;
  if (kv.type == DType::F16)
    launch_hd<__half>(q, kv, n_tokens, pos, seq, out, p, keys_per_split, n_splits, part, stream);
  else if (kv.type == DType::F32)
    launch_hd<float>(q, kv, n_tokens, pos, seq, out, p, keys_per_split, n_splits, part, stream);
  else
    throw Error("CUDA attention: KV cache type " + std::string(dtype_name(kv.type)) + " is not supported");
  check_launch("attention");
  if (n_splits > 1) {
    attention_merge_kernel<<<n_tokens * p.n_head, 128, 0, stream>>>(part, out, p.head_dim, n_splits);
    check_launch("attention merge");
  }
}

}  // namespace hearth::cuda
