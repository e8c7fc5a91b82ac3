#include "pipeline/split.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "hearth/error.h"
#include "model/hparams.h"
#include "model/tensor_roles.h"
#include "store/sha256.h"

namespace fs = std::filesystem;

namespace hearth::pipeline {
namespace {

std::string part_name(int begin, int end_inclusive, int width) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "layers-%0*d-%0*d.gguf", width, begin, width, end_inclusive);
  return buf;
}

// A writer with the source's metadata (without the tokenizer for layer parts) and the part's own keys.
GgufWriter part_writer(const GgufFile& src, const HParams& h, const std::string& role, int begin, int end,
                       bool with_tokenizer) {
  GgufWriter w;
  for (const auto& [key, value] : src.metadata()) {
    if (!with_tokenizer && key.rfind("tokenizer.", 0) == 0) continue;
    w.set_value(key, value);
  }
  // Parts without the tokenizer still need the vocabulary size (the width of the logits).
  const std::string vocab_key = h.arch + ".vocab_size";
  if (!w.has_key(vocab_key)) w.set_u32(vocab_key, static_cast<uint32_t>(h.n_vocab));
  w.set_string("hearth.part.role", role);
  w.set_u32("hearth.part.layer_begin", static_cast<uint32_t>(begin));
  w.set_u32("hearth.part.layer_end", static_cast<uint32_t>(end));
  return w;
}

void add_view(GgufWriter& w, const GgufTensor& t) {
  std::vector<int64_t> dims(t.ne, t.ne + std::max(1, t.n_dims));
  w.add_tensor_view(t.name, t.type, dims, t.data, t.nbytes);
}

SplitPart finish_part(const GgufWriter& w, const std::string& dir, const std::string& file, const std::string& role,
                      int begin, int end) {
  const std::string path = (fs::path(dir) / file).string();
  w.write(path);
  SplitPart p;
  p.file = file;
  p.role = role;
  p.layer_begin = begin;
  p.layer_end = end;
  p.size = fs::file_size(path);
  p.sha256 = sha256_file(path);
  return p;
}

}  // namespace

SplitManifest split_model(const std::string& model_path, const std::string& out_dir, const SplitOptions& opt) {
  std::unique_ptr<GgufFile> src = GgufFile::open(model_path);
  const HParams h = hparams_from_gguf(*src);
  std::vector<size_t> layer_bytes(h.n_layer, 0);
  for (const GgufTensor& t : src->tensors()) {
    int l = tensor_layer(t.name);
    if (l >= h.n_layer) throw Error(model_path + ": tensor " + std::string(t.name) + " is beyond block_count");
    if (l >= 0) layer_bytes[l] += t.nbytes;
  }
  std::vector<StageSpec> ranges;
  if (opt.per_layer) {
    for (int l = 0; l < h.n_layer; ++l) {
      StageSpec r;
      r.layer_begin = l;
      r.layer_end = l + 1;
      ranges.push_back(r);
    }
  } else if (!opt.ranges.empty()) {
    ranges = parse_stage_ranges(opt.ranges, h.n_layer);
  } else {
    ranges = plan_stages(layer_bytes, opt.stages > 0 ? opt.stages : 1);
  }

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw Error(out_dir + ": cannot create the output directory: " + ec.message());

  SplitManifest m;
  m.model = src->get_string("general.name");
  m.arch = h.arch;
  m.source = fs::path(model_path).filename().string();
  m.n_layer = h.n_layer;
  m.n_embd = h.n_embd;
  m.n_vocab = h.n_vocab;

  const GgufTensor* tok_embd = src->find_tensor("token_embd.weight");
  const bool tied = src->find_tensor("output.weight") == nullptr;
  {
    // Begin: the token embeddings and any tensor that belongs to no layer and not to the head.
    GgufWriter w = part_writer(*src, h, "begin", 0, 0, true);
    for (const GgufTensor& t : src->tensors()) {
      if (tensor_layer(t.name) >= 0 || is_head_tensor(t.name) || is_shared_by_layers(t.name))
        continue;
      add_view(w, t);
    }
    m.parts.push_back(finish_part(w, out_dir, "begin.gguf", "begin", 0, 0));
  }
  const int width = h.n_layer > 1000 ? 4 : 3;
  for (const StageSpec& r : ranges) {
    GgufWriter w = part_writer(*src, h, "layers", r.layer_begin, r.layer_end, false);
    for (const GgufTensor& t : src->tensors()) {
      int l = tensor_layer(t.name);
      // RoPE frequency factors are used by every layer: each layer part carries a copy.
      if ((l >= r.layer_begin && l < r.layer_end) || is_shared_by_layers(t.name)) add_view(w, t);
    }
    m.parts.push_back(
        finish_part(w, out_dir, part_name(r.layer_begin, r.layer_end - 1, width), "layers", r.layer_begin, r.layer_end));
  }
  {
    GgufWriter w = part_writer(*src, h, "end", 0, 0, true);
    for (const GgufTensor& t : src->tensors())
      if (is_head_tensor(t.name)) add_view(w, t);
    // Tied embeddings: the head is the embedding table, so the end part holds a copy of it.
    if (tied) {
      if (!tok_embd) throw Error(model_path + ": neither output.weight nor token_embd.weight");
      add_view(w, *tok_embd);
    }
    m.parts.push_back(finish_part(w, out_dir, "end.gguf", "end", 0, 0));
  }

  nlohmann::json j;
  j["format"] = "hearth-split";
  j["version"] = 1;
  j["model"] = m.model;
  j["arch"] = m.arch;
  j["source"] = m.source;
  j["n_layer"] = m.n_layer;
  j["n_embd"] = m.n_embd;
  j["n_vocab"] = m.n_vocab;
  j["parts"] = nlohmann::json::array();
  for (const SplitPart& p : m.parts)
    j["parts"].push_back({{"file", p.file},
                          {"role", p.role},
                          {"layer_begin", p.layer_begin},
                          {"layer_end", p.layer_end},
                          {"size", p.size},
                          {"sha256", p.sha256}});
  const fs::path manifest = fs::path(out_dir) / kManifestName;
  const fs::path tmp = manifest.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out) throw Error(manifest.string() + ": cannot write");
  }
  fs::rename(tmp, manifest, ec);
  if (ec) throw Error(manifest.string() + ": cannot write: " + ec.message());
  return m;
}

bool is_split_path(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return true;
  return fs::path(path).filename() == kManifestName;
}

std::string split_dir(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return path;
  std::string dir = fs::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

SplitManifest read_manifest(const std::string& path) {
  const std::string file = fs::is_directory(path) ? (fs::path(path) / kManifestName).string() : path;
  std::ifstream in(file);
  if (!in) throw Error(file + ": cannot open the split manifest (is this a `hearth split` directory?)");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(file + ": not valid JSON");
  auto fail = [&](const std::string& what) -> Error { return Error(file + ": " + what); };
  if (j.value("format", "") != "hearth-split") throw fail("not a hearth split manifest (format)");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() != 1)
    throw fail("unsupported manifest version");
  SplitManifest m;
  try {
    m.model = j.value("model", "");
    m.arch = j.value("arch", "");
    m.source = j.value("source", "");
    m.n_layer = j.at("n_layer").get<int>();
    m.n_embd = j.value("n_embd", 0);
    m.n_vocab = j.value("n_vocab", 0);
    for (const auto& p : j.at("parts")) {
      SplitPart part;
      part.file = p.at("file").get<std::string>();
      part.role = p.at("role").get<std::string>();
      part.layer_begin = p.value("layer_begin", 0);
      part.layer_end = p.value("layer_end", 0);
      part.size = p.at("size").get<uint64_t>();
      part.sha256 = p.value("sha256", "");
      m.parts.push_back(std::move(part));
    }
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("malformed manifest: ") + e.what());
  }
  if (m.n_layer <= 0) throw fail("n_layer must be positive");
  // Layer parts must be contiguous ranges covering [0, n_layer); names must stay inside the directory.
  int next = 0;
  int n_begin = 0, n_end = 0;
  for (const SplitPart& p : m.parts) {
    if (p.file.empty() || p.file.find('/') != std::string::npos || p.file == "." || p.file == "..")
      throw fail("part file name '" + p.file + "' is not a plain file name");
    if (p.role == "begin") {
      ++n_begin;
    } else if (p.role == "end") {
      ++n_end;
    } else if (p.role == "layers") {
      if (p.layer_begin != next || p.layer_end <= p.layer_begin || p.layer_end > m.n_layer)
        throw fail("part " + p.file + ": layers [" + std::to_string(p.layer_begin) + ", " +
                   std::to_string(p.layer_end) + ") do not continue from layer " + std::to_string(next));
      next = p.layer_end;
    } else {
      throw fail("part " + p.file + ": unknown role '" + p.role + "'");
    }
  }
  if (next != m.n_layer) throw fail("the layer parts cover " + std::to_string(next) + " of " + std::to_string(m.n_layer) + " layers");
  if (n_begin != 1 || n_end != 1) throw fail("expected one begin and one end part");
  return m;
}

std::string check_part(const std::string& dir, const SplitPart& part, bool verify_sha256) {
  const std::string path = (fs::path(dir) / part.file).string();
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw Error(path + ": split part missing (" + ec.message() + ")");
  if (size != part.size)
    throw Error(path + ": split part has " + std::to_string(size) + " bytes, the manifest says " +
                std::to_string(part.size) + " (damaged or incomplete copy)");
  if (verify_sha256 && !part.sha256.empty()) {
    std::string got = sha256_file(path);
    if (got != part.sha256)
      throw Error(path + ": split part SHA-256 " + got + " differs from the manifest's " + part.sha256 +
                  " (damaged copy)");
  }
  return path;
}

std::vector<SplitPart> parts_for_stage(const SplitManifest& m, int layer_begin, int layer_end, bool input,
                                       bool output) {
  std::vector<SplitPart> out;
  auto role = [&](const std::string& r) {
    for (const SplitPart& p : m.parts)
      if (p.role == r) return p;
    throw Error("split manifest has no " + r + " part");
  };
  if (input) out.push_back(role("begin"));
  for (const SplitPart& p : m.parts)
    if (p.role == "layers" && p.layer_begin < layer_end && p.layer_end > layer_begin) out.push_back(p);
  if (output) out.push_back(role("end"));
  return out;
}

}  // namespace hearth::pipeline
