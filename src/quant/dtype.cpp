#include "quant/dtype.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "hearth/error.h"

namespace hearth {
namespace {

struct Entry {
  uint32_t id;
  DTypeInfo info;
};

// Block layouts (sizes only) as GGUF files store them; QK_K = 256 for the k-quants.
constexpr Entry kTypes[] = {
    {0, {"f32", 1, 4}},        {1, {"f16", 1, 2}},          {2, {"q4_0", 32, 18}},
    {3, {"q4_1", 32, 20}},     {6, {"q5_0", 32, 22}},       {7, {"q5_1", 32, 24}},
    {8, {"q8_0", 32, 34}},     {9, {"q8_1", 32, 36}},       {10, {"q2_K", 256, 84}},
    {11, {"q3_K", 256, 110}},  {12, {"q4_K", 256, 144}},    {13, {"q5_K", 256, 176}},
    {14, {"q6_K", 256, 210}},  {15, {"q8_K", 256, 292}},    {16, {"iq2_xxs", 256, 66}},
    {17, {"iq2_xs", 256, 74}}, {18, {"iq3_xxs", 256, 98}},  {19, {"iq1_s", 256, 50}},
    {20, {"iq4_nl", 32, 18}},  {21, {"iq3_s", 256, 110}},   {22, {"iq2_s", 256, 82}},
    {23, {"iq4_xs", 256, 136}}, {24, {"i8", 1, 1}},         {25, {"i16", 1, 2}},
    {26, {"i32", 1, 4}},       {27, {"i64", 1, 8}},         {28, {"f64", 1, 8}},
    {29, {"iq1_m", 256, 56}},  {30, {"bf16", 1, 2}},        {34, {"tq1_0", 256, 54}},
    {35, {"tq2_0", 256, 66}},
};

}  // namespace

const DTypeInfo* dtype_info(uint32_t id) {
  for (const Entry& e : kTypes)
    if (e.id == id) return &e.info;
  return nullptr;
}

const DTypeInfo& dtype_info(DType t) {
  const DTypeInfo* i = dtype_info(static_cast<uint32_t>(t));
  if (!i) throw Error("unknown tensor type id " + std::to_string(static_cast<uint32_t>(t)));
  return *i;
}

bool dtype_from_name(std::string_view name, DType* out) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const Entry& e : kTypes) {
    std::string n(e.info.name);
    std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
    if (n == lower) {
      *out = static_cast<DType>(e.id);
      return true;
    }
  }
  return false;
}

}  // namespace hearth
