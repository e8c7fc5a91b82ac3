// Writes a small seed corpus for gguf_fuzz into the directory given as argv[1].
#include <cstdio>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"
#include "hearth/error.h"
#include "quant/dtype.h"

using hearth::DType;
using hearth::GgufType;
using hearth::GgufWriter;

namespace {

// Tensor bytes: any bytes are valid tensor data for the parser; a fixed pattern keeps seeds stable.
std::vector<uint8_t> quant(DType t, int64_t n) {
  std::vector<uint8_t> out(hearth::row_bytes(t, n));
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(i * 37 + 11);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SEED_DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  try {
    GgufWriter empty;
    empty.write(dir + "/empty.gguf");

    GgufWriter kv;
    kv.set_u8("u8", 1); kv.set_i8("i8", -1); kv.set_u16("u16", 2); kv.set_i16("i16", -2);
    kv.set_u32("u32", 3); kv.set_i32("i32", -3); kv.set_u64("u64", 4); kv.set_i64("i64", -4);
    kv.set_f32("f32", 0.5f); kv.set_f64("f64", 0.25); kv.set_bool("bool", true); kv.set_string("str", "text");
    kv.set_array_strings("strs", std::vector<std::string>{"a", "bb", ""});
    kv.set_array_i32("i32s", {1, 2, 3});
    kv.set_array_f32("f32s", {1.0f, 2.0f});
    const uint8_t b[] = {1, 0, 1};
    kv.set_array("bools", GgufType::BOOL, b, 3);
    kv.write(dir + "/metadata.gguf");

    for (uint32_t align : {32u, 64u}) {
      GgufWriter t;
      if (align != 32) t.set_alignment(align);
      t.set_string("general.architecture", "llama");
      t.add_tensor("f32", DType::F32, {4, 2}, quant(DType::F32, 8));
      t.add_tensor("f16", DType::F16, {8}, quant(DType::F16, 8));
      t.add_tensor("q8_0", DType::Q8_0, {32, 2}, quant(DType::Q8_0, 64));
      t.add_tensor("q4_0", DType::Q4_0, {32, 1, 1, 2}, quant(DType::Q4_0, 64));
      t.add_tensor("q4_K", DType::Q4_K, {256}, quant(DType::Q4_K, 256));
      t.write(dir + "/tensors-" + std::to_string(align) + ".gguf");
    }

    // A miniature Llama model: the names and keys a real loader looks for.
    GgufWriter m;
    m.set_string("general.architecture", "llama");
    m.set_u32("llama.embedding_length", 32);
    m.set_u32("llama.block_count", 1);
    m.set_u32("llama.attention.head_count", 2);
    m.set_u32("llama.attention.head_count_kv", 1);
    m.set_u32("llama.feed_forward_length", 64);
    m.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    m.set_string("tokenizer.ggml.model", "llama");
    m.set_array_strings("tokenizer.ggml.tokens", std::vector<std::string>{"<unk>", "<s>", "</s>", "a", "b", "c", "d", "e"});
    m.set_array_f32("tokenizer.ggml.scores", std::vector<float>(8, 0.0f));
    m.set_array_i32("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1, 1, 1});
    m.add_tensor("token_embd.weight", DType::Q8_0, {32, 8}, quant(DType::Q8_0, 256));
    m.add_tensor("blk.0.attn_norm.weight", DType::F32, {32}, quant(DType::F32, 32));
    m.add_tensor("blk.0.attn_q.weight", DType::Q4_0, {32, 32}, quant(DType::Q4_0, 1024));
    m.add_tensor("output_norm.weight", DType::F32, {32}, quant(DType::F32, 32));
    m.write(dir + "/mini-llama.gguf");
  } catch (const hearth::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
