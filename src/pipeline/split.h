// `hearth split`: a model cut into per-part GGUF files so that each node stores only its part.
//   begin part: token embeddings, tokenizer and all metadata;
//   layer parts: one per layer range (blk.N.*, plus the RoPE factors), all metadata but the tokenizer;
//   end part:   output norm and head (and the token embeddings when the head is tied to them), with the tokenizer.
// Every part is a valid GGUF file with the model's hyperparameters; manifest.json lists the parts with their
// role, layer range, size and SHA-256.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/stage.h"

namespace hearth::pipeline {

struct SplitPart {
  std::string file;         // name inside the split directory
  std::string role;         // "begin", "layers" or "end"
  int layer_begin = 0;      // layers [layer_begin, layer_end) ("layers" parts; 0, 0 otherwise)
  int layer_end = 0;
  uint64_t size = 0;        // bytes
  std::string sha256;       // 64 lowercase hex digits
};

struct SplitManifest {
  std::string model;        // general.name
  std::string arch;         // general.architecture
  std::string source;       // file name the parts were cut from
  int n_layer = 0;
  int n_embd = 0;
  int n_vocab = 0;
  std::vector<SplitPart> parts;  // begin, layer parts in layer order, end
};

constexpr const char* kManifestName = "manifest.json";

struct SplitOptions {
  int stages = 0;          // layer parts of about equal bytes
  std::string ranges;      // "0-9,10-21" (inclusive); overrides stages
  bool per_layer = false;  // one part per layer; overrides both
};

// Writes the parts and manifest.json into out_dir (created if needed). Throws hearth::Error.
SplitManifest split_model(const std::string& model_path, const std::string& out_dir, const SplitOptions& opt);

// Reads and validates DIR/manifest.json (or the manifest file itself). Throws hearth::Error naming the fault.
SplitManifest read_manifest(const std::string& path);
// True when path is a split directory or its manifest.
bool is_split_path(const std::string& path);
// The directory of a split path (the path itself, or the manifest's directory).
std::string split_dir(const std::string& path);

// Checks that a part's file exists and has the manifest's size (and SHA-256 when verify_sha256); returns its path.
std::string check_part(const std::string& dir, const SplitPart& part, bool verify_sha256);
// The parts a stage needs, in the order to open them (the first supplies the metadata).
std::vector<SplitPart> parts_for_stage(const SplitManifest& m, int layer_begin, int layer_end, bool input,
                                       bool output);

}  // namespace hearth::pipeline
