// The reference API (quant.h): the float types here, the block types in quant_legacy.cpp and quant_k*.cpp.
#include <cstring>
#include <string>
#include <vector>

#include "hearth/error.h"
#include "quant/fp16.h"
#include "quant/quant.h"
#include "quant/quant_impl.h"

namespace hearth {
namespace {

void check_blocks(DType t, int64_t n, const char* what) {
  const DTypeInfo& i = dtype_info(t);
  if (n % i.block_size != 0)
    throw Error(std::string(what) + ": " + std::to_string(n) + " elements is not a multiple of the " +
                std::string(i.name) + " block size " + std::to_string(i.block_size));
}

}  // namespace

bool dtype_supported(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::Q8_0:
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return true;
    default: return false;
  }
}

void dequantize_row_ref(DType t, const void* src, float* dst, int64_t n) {
  check_blocks(t, n, "dequantize");
  switch (t) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::F16: {
      auto s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      auto s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    default:
      if (q::dequantize_legacy(t, src, dst, n) || q::dequantize_k(t, src, dst, n)) return;
      throw Error("dequantize: unsupported type " + std::string(dtype_name(t)));
  }
}

void quantize_row_ref(DType t, const float* src, void* dst, int64_t n) {
  check_blocks(t, n, "quantize");
  switch (t) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::F16: {
      auto d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_fp16(src[i]);
      return;
    }
    case DType::BF16: {
      auto d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    default:
      if (q::quantize_legacy(t, src, dst, n) || q::quantize_k(t, src, dst, n)) return;
      throw Error("quantize: unsupported type " + std::string(dtype_name(t)));
  }
}

DType vec_dot_type(DType t) {
  switch (t) {
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: return DType::Q8_0;
    case DType::Q4_1: case DType::Q5_1: return DType::Q8_1;
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: return DType::Q8_K;
    default: return DType::F32;
  }
}

float vec_dot_ref(DType t, int64_t n, const void* w, const void* x) {
  float out = 0;
  if (vec_dot_type(t) != DType::F32) {
    if (q::vec_dot_legacy(t, n, w, x, &out) || q::vec_dot_k(t, n, w, x, &out)) return out;
    throw Error("vec_dot: unsupported type " + std::string(dtype_name(t)));
  }
  std::vector<float> row(n);
  dequantize_row_ref(t, w, row.data(), n);
  auto xf = static_cast<const float*>(x);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(row[i]) * xf[i];
  return static_cast<float>(s);
}

}  // namespace hearth
