// The model store: manifests naming content-addressed GGUF blobs (layout in include/hearth/store.h).
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "hearth/error.h"
#include "hearth/model.h"
#include "hearth/store.h"
#include "store/sha256.h"
#include "store/store_files.h"
#include "store/store_internal.h"

namespace hearth {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace store {

std::string blob_path(const std::string& dir, const std::string& hex) { return dir + "/blobs/sha256-" + hex; }

std::string manifest_path(const std::string& dir, const ModelName& n) {
  return dir + "/manifests/" + n.name + "/" + n.tag + ".json";
}

std::chrono::system_clock::time_point file_time(const fs::path& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  if (ec) return std::chrono::system_clock::now();
  return std::chrono::file_clock::to_sys(t);
}

std::optional<StoreModel> read_manifest(const std::string& dir, const ModelName& n) {
  const std::string path = manifest_path(dir, n);
  std::ifstream f(path);
  if (!f) return std::nullopt;
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    throw Error("corrupt manifest " + path + ": " + e.what());
  }
  StoreModel m;
  m.name = n.str();
  try {
    m.digest = j.at("digest").get<std::string>();
    m.size = j.at("size").get<uint64_t>();
    m.from = j.value("from", "");
    m.system = j.value("system", "");
    m.tmpl = j.value("template", "");
    if (j.contains("parameters"))
      for (const json& kv : j.at("parameters")) m.parameters.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
  } catch (const json::exception& e) {
    throw Error("corrupt manifest " + path + ": " + e.what());
  }
  if (m.digest.rfind("sha256:", 0) != 0 || !is_sha256_hex(m.digest.substr(7)))
    throw Error("corrupt manifest " + path + ": bad digest '" + m.digest + "'");
  m.path = blob_path(dir, m.digest.substr(7));
  m.modified = file_time(path);
  return m;
}

void write_manifest(const std::string& dir, const ModelName& n, const StoreModel& m) {
  json params = json::array();
  for (const auto& [k, v] : m.parameters) params.push_back({k, v});
  json j = {{"schema_version", 1}, {"name", n.str()}, {"digest", m.digest}, {"size", m.size}};
  if (!m.from.empty()) j["from"] = m.from;
  if (!m.system.empty()) j["system"] = m.system;
  if (!m.tmpl.empty()) j["template"] = m.tmpl;
  if (!m.parameters.empty()) j["parameters"] = params;
  write_file_atomic(manifest_path(dir, n), j.dump(2) + "\n");
}

void check_gguf(const std::string& path, const std::string& what) {
  try {
    inspect_model(path);
  } catch (const std::exception& e) {
    throw Error(what + " is not a readable GGUF model: " + e.what());
  }
}

std::string stage_blob(const std::string& dir, const std::string& tmp, const std::string& hex) {
  const std::string blob = blob_path(dir, hex);
  std::error_code ec;
  if (fs::exists(blob, ec) && fs::file_size(blob, ec) == fs::file_size(tmp)) {
    fs::remove(tmp, ec);  // the same content is already there
    return blob;
  }
  fs::rename(tmp, blob);
  sync_dir(dir + "/blobs");
  return blob;
}

}  // namespace store

using namespace store;

ModelStore::ModelStore(std::string dir) : dir_(std::move(dir)) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  if (dir_.empty()) throw Error("model store: empty directory name");
}

std::vector<StoreModel> ModelStore::list() const {
  std::vector<StoreModel> out;
  std::error_code ec;
  const fs::path root = fs::path(dir_) / "manifests";
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const fs::path& p = it->path();
    if (!it->is_regular_file() || p.extension() != ".json" || p.filename().string().rfind(".tmp-", 0) == 0) continue;
    ModelName n;
    n.name = p.parent_path().lexically_relative(root).generic_string();
    n.tag = p.stem().string();
    try {
      parse_model_name(n.str());  // skips what a person put there by hand
      if (auto m = read_manifest(dir_, n)) out.push_back(std::move(*m));
    } catch (const Error&) {
      // an unreadable manifest is not listed; `hearth show` on its name reports why
    }
  }
  std::sort(out.begin(), out.end(), [](const StoreModel& a, const StoreModel& b) { return a.name < b.name; });
  std::vector<StoreModel> loose;
  for (const auto& de : fs::directory_iterator(dir_, ec)) {
    if (!de.is_regular_file() || de.path().extension() != ".gguf") continue;
    StoreModel m;
    m.name = de.path().stem().string();
    m.path = de.path().string();
    m.size = fs::file_size(de.path(), ec);
    m.modified = file_time(de.path());
    m.loose = true;
    loose.push_back(std::move(m));
  }
  std::sort(loose.begin(), loose.end(), [](const StoreModel& a, const StoreModel& b) { return a.name < b.name; });
  out.insert(out.end(), loose.begin(), loose.end());
  return out;
}

std::optional<StoreModel> ModelStore::find(const std::string& name) const {
  std::string stem = name;
  if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".gguf") == 0) {
    stem.resize(stem.size() - 5);
  } else {
    try {
      ModelName n = parse_model_name(name);
      if (auto m = read_manifest(dir_, n)) return m;
      if (n.tag != "latest") return std::nullopt;
      stem = n.name;
    } catch (const Error&) {
      if (name.find(':') == std::string::npos) throw;
    }
  }
  if (stem.find('/') != std::string::npos || stem.empty() || stem[0] == '.') return std::nullopt;
  const fs::path p = fs::path(dir_) / (stem + ".gguf");
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  StoreModel m;
  m.name = stem;
  m.path = p.string();
  m.size = fs::file_size(p, ec);
  m.modified = file_time(p);
  m.loose = true;
  return m;
}

StoreModel ModelStore::get(const std::string& name) const {
  if (auto m = find(name)) return *m;
  throw Error("model '" + name + "' not found in the store " + dir_);
}

StoreModel ModelStore::import_file(const std::string& file, const std::string& name, const StoreProgress& progress) {
  const ModelName n = parse_model_name(name);
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw Error("cannot import '" + file + "': no such file");
  check_gguf(file, "'" + file + "'");
  fs::create_directories(dir_ + "/blobs");
  const std::string tmp = temp_path(dir_ + "/blobs", "import");
  const std::string hex = copy_file_hashed(file, tmp, [&](uint64_t done, uint64_t total) {
    if (progress) progress("copying", done, total);
  });
  StoreModel m;
  m.digest = "sha256:" + hex;
  m.size = fs::file_size(tmp);
  try {
    StoreLock lock(dir_);
    stage_blob(dir_, tmp, hex);
    write_manifest(dir_, n, m);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  return get(n.str());
}

StoreModel ModelStore::create(const std::string& name, const Profile& p, const StoreProgress& progress) {
  const ModelName n = parse_model_name(name);
  if (p.from.empty()) throw Error("profile for '" + name + "' has no FROM (a store name or a .gguf path)");
  for (const auto& [k, v] : p.parameters) check_profile_parameter(k, v);
  StoreModel m;
  std::optional<StoreModel> base;
  try {
    base = find(p.from);
  } catch (const Error&) {
    // not a valid store name: maybe a path
  }
  std::error_code ec;
  std::string staged_tmp, hex;
  if (base && !base->loose) {
    m = *base;
    hex = m.digest.substr(7);
  } else {
    const std::string file = base ? base->path : p.from;
    if (!fs::is_regular_file(file, ec))
      throw Error("FROM '" + p.from + "': no such model in the store " + dir_ + " and no such file");
    check_gguf(file, "FROM '" + p.from + "'");
    fs::create_directories(dir_ + "/blobs");
    staged_tmp = temp_path(dir_ + "/blobs", "import");
    hex = copy_file_hashed(file, staged_tmp, [&](uint64_t done, uint64_t total) {
      if (progress) progress("copying", done, total);
    });
    m.digest = "sha256:" + hex;
    m.size = fs::file_size(staged_tmp);
  }
  m.from = p.from;
  if (!p.system.empty()) m.system = p.system;
  if (!p.tmpl.empty()) m.tmpl = p.tmpl;
  // The profile's parameters replace the base's of the same name (all of its stops when it has any).
  std::set<std::string> given;
  for (const auto& kv : p.parameters) given.insert(kv.first);
  std::vector<std::pair<std::string, std::string>> params;
  for (const auto& kv : m.parameters)
    if (!given.count(kv.first)) params.push_back(kv);
  params.insert(params.end(), p.parameters.begin(), p.parameters.end());
  m.parameters = std::move(params);
  try {
    StoreLock lock(dir_);
    if (!staged_tmp.empty()) stage_blob(dir_, staged_tmp, hex);
    else if (!fs::exists(blob_path(dir_, hex), ec)) throw Error("the blob of '" + p.from + "' is missing from " + dir_);
    write_manifest(dir_, n, m);
  } catch (...) {
    if (!staged_tmp.empty()) fs::remove(staged_tmp, ec);
    throw;
  }
  return get(n.str());
}

StoreModel ModelStore::copy(const std::string& src, const std::string& dst) {
  const ModelName d = parse_model_name(dst);
  const StoreModel s = get(src);
  if (s.loose) return import_file(s.path, dst);
  {
    StoreLock lock(dir_);
    std::error_code ec;
    if (!fs::exists(s.path, ec)) throw Error("the blob of '" + src + "' is missing from " + dir_);
    write_manifest(dir_, d, s);
  }
  return get(d.str());
}

void ModelStore::remove(const std::string& name) {
  const ModelName n = parse_model_name(name);
  const std::string path = manifest_path(dir_, n);
  std::error_code ec;
  {
    StoreLock lock(dir_);
    if (!fs::exists(path, ec)) {
      if (auto m = find(name); m && m->loose)
        throw Error("'" + name + "' is a loose file (" + m->path + "), not a registered model: delete the file itself");
      throw Error("model '" + name + "' not found in the store " + dir_);
    }
    fs::remove(path);
    sync_dir(fs::path(path).parent_path().string());
    // Empty directories of a name go with its last tag.
    const fs::path root = fs::path(dir_) / "manifests";
    for (fs::path p = fs::path(path).parent_path(); p != root && p.string().size() > root.string().size();
         p = p.parent_path())
      if (!fs::remove(p, ec)) break;  // not empty (or gone): stop
  }
  gc();
}

namespace {

// A temporary file's name ends in "-PID-N" (temp_path): whether that process no longer exists.
bool temp_owner_gone(const std::string& name) {
  const size_t last = name.rfind('-');
  if (last == std::string::npos || last == 0) return false;
  const size_t before = name.rfind('-', last - 1);
  if (before == std::string::npos) return false;
  const std::string pid = name.substr(before + 1, last - before - 1);
  if (pid.empty() || pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) return false;
  return ::kill(static_cast<pid_t>(std::stol(pid)), 0) != 0 && errno == ESRCH;
}

}  // namespace

size_t ModelStore::gc() {
  StoreLock lock(dir_);
  std::set<std::string> used;
  std::error_code ec;
  const fs::path root = fs::path(dir_) / "manifests";
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".json") continue;
    std::ifstream f(it->path());
    try {
      used.insert(json::parse(f).at("digest").get<std::string>());
    } catch (const json::exception&) {
      return 0;  // a manifest we cannot read may use any blob: delete nothing
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) return 0;
  size_t removed = 0;
  std::error_code ec2;
  for (const auto& de : fs::directory_iterator(dir_ + "/blobs", ec2)) {
    const std::string f = de.path().filename().string();
    if (f.rfind(".tmp-", 0) == 0 && temp_owner_gone(f)) {
      if (fs::remove(de.path(), ec)) ++removed;  // an import cut short: its process is gone
      continue;
    }
    if (f.rfind("sha256-", 0) != 0) continue;
    if (used.count("sha256:" + f.substr(7))) continue;
    if (fs::remove(de.path(), ec)) ++removed;
  }
  if (removed) sync_dir(dir_ + "/blobs");
  return removed;
}

}  // namespace hearth
