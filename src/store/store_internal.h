// Pieces of the model store shared by its source files (model_store.cpp, store_pull.cpp).
#pragma once
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "hearth/store.h"

namespace hearth::store {

std::string blob_path(const std::string& dir, const std::string& hex);
std::string manifest_path(const std::string& dir, const ModelName& n);
std::chrono::system_clock::time_point file_time(const std::filesystem::path& p);
// The manifest of n, nullopt when there is none; throws hearth::Error when it is corrupt.
std::optional<StoreModel> read_manifest(const std::string& dir, const ModelName& n);
// Atomically; call with the store lock held (the blob must already be in place).
void write_manifest(const std::string& dir, const ModelName& n, const StoreModel& m);
// Throws hearth::Error "<what> is not a readable GGUF model: ..." unless inspect_model accepts path.
void check_gguf(const std::string& path, const std::string& what);
// Moves the temporary file tmp (content hashed to hex) to its blob name, or drops it when the blob exists.
// Call with the store lock held. Returns the blob's path.
std::string stage_blob(const std::string& dir, const std::string& tmp, const std::string& hex);

}  // namespace hearth::store
