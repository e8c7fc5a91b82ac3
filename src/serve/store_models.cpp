// What the server takes from the model store (see store_models.h).
#include "serve/store_models.h"

#include <cstdlib>
#include <filesystem>
#include <set>

#include "serve/model_registry.h"
#include "store/sha256.h"

namespace hearth::serve {

namespace {

ModelEntry entry_of(StoreModel& m) {
  ModelEntry e;
  e.name = m.name;
  e.path = m.path;
  e.size = m.size;
  e.modified = m.modified;
  e.digest = m.digest;
  e.profile.from = m.from;
  e.profile.system = std::move(m.system);
  e.profile.tmpl = std::move(m.tmpl);
  e.profile.parameters = std::move(m.parameters);
  return e;
}

}  // namespace

std::vector<ModelEntry> list_store_entries(const std::string& dir) {
  std::vector<ModelEntry> out;
  if (dir.empty()) return out;
  for (StoreModel& m : ModelStore(dir).list()) out.push_back(entry_of(m));
  return out;
}

std::optional<ModelEntry> find_store_entry(const std::string& dir, const std::string& name) {
  if (dir.empty()) return std::nullopt;
  try {
    if (std::optional<StoreModel> m = ModelStore(dir).find(name)) return entry_of(*m);
  } catch (const Error&) {  // a name the store cannot hold, or a manifest it cannot read
  }
  return std::nullopt;
}

void log_unreadable_model(const ServerOptions& options, const std::string& path, const std::string& error) {
  static std::mutex mu;
  static std::set<std::string> said;
  {
    std::lock_guard<std::mutex> g(mu);
    if (said.size() > 10000) said.clear();  // bounded: at worst a file is named again
    if (!said.insert(path + "\n" + error).second) return;
  }
  if (options.access_log) options.access_log("cannot list model file " + path + ": " + error);
}

FileDigest::FileDigest(const std::string& path) : path_(path) {
  const std::string name = std::filesystem::path(path).filename().string();
  if (name.rfind("sha256-", 0) == 0 && is_sha256_hex(name.substr(7))) {
    digest_ = "sha256:" + name.substr(7);  // a store blob is named by its digest
    started_ = true;
  }
}

FileDigest::~FileDigest() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::string FileDigest::get() const {
  std::lock_guard<std::mutex> g(mu_);
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] {  // writes digest_ under mu_: after this call has returned
      try {
        const std::string hex = sha256_file(path_, [this](uint64_t, uint64_t) {
          if (stop_) throw Error("stopped");
        });
        std::lock_guard<std::mutex> g(mu_);
        digest_ = "sha256:" + hex;
      } catch (const std::exception&) {
        // unreadable (or stopped): no ID, as before
      }
    });
  }
  return digest_;
}

namespace {

// Was key given by the request (present and not null)?
bool given_field(const nlohmann::json& given, const char* key) {
  if (!given.is_object()) return false;
  auto it = given.find(key);
  return it != given.end() && !it->is_null();
}

}  // namespace

void apply_profile_parameters(const Profile& profile, const nlohmann::json& given, ApiStyle style,
                              GenerateParams& params) {
  const bool openai = style == ApiStyle::OpenAI;
  SamplerParams& s = params.sampling;
  std::vector<std::string> stops;
  for (const auto& [key, value] : profile.parameters) {
    // Profile values were checked when the profile was created: numbers parse.
    const double v = std::strtod(value.c_str(), nullptr);
    if (key == "stop") {
      if (!given_field(given, "stop")) stops.push_back(value);
    } else if (key == "num_predict") {
      if (openai ? !given_field(given, "max_tokens") && !given_field(given, "max_completion_tokens")
                 : !given_field(given, "num_predict"))
        params.n_predict = v <= 0 ? -1 : static_cast<int>(v);
    } else if (given_field(given, key.c_str())) {
      continue;
    } else if (key == "temperature") {
      s.temperature = static_cast<float>(v);
    } else if (key == "top_p") {
      s.top_p = static_cast<float>(v);
    } else if (key == "top_k") {
      s.top_k = static_cast<int>(v);
    } else if (key == "min_p") {
      s.min_p = static_cast<float>(v);
    } else if (key == "repeat_penalty") {
      s.repeat_penalty = static_cast<float>(v);
    } else if (key == "repeat_last_n") {
      s.repeat_last_n = static_cast<int>(v);
    } else if (key == "presence_penalty") {
      s.presence_penalty = static_cast<float>(v);
    } else if (key == "frequency_penalty") {
      s.frequency_penalty = static_cast<float>(v);
    } else if (key == "seed") {
      // -1: a random seed, as in a request (strtoull would read it as 2^64-1, a fixed one).
      s.seed = v < 0 ? uint64_t{0xFFFFFFFF} : static_cast<uint64_t>(std::strtoull(value.c_str(), nullptr, 10));
    }
  }
  if (!stops.empty()) params.stop = std::move(stops);
}

void apply_profile_system(const Profile& profile, std::vector<ChatMessage>& messages) {
  if (profile.system.empty()) return;
  for (const ChatMessage& m : messages)
    if (m.role == "system") return;
  messages.insert(messages.begin(), {"system", profile.system});
}

std::vector<int32_t> tokenize_profile_chat(const Model& model, const Profile& profile,
                                           const std::vector<ChatMessage>& messages) {
  if (profile.tmpl.empty()) return model.tokenize_chat(messages, true);
  const std::string bos = model.token_text(model.bos()), eos = model.token_text(model.eos());
  ChatPrompt prompt;
  try {  // a family name ...
    prompt = chat_render_prompt(chat_format_from_name(profile.tmpl), messages, true, bos, eos);
  } catch (const Error&) {  // ... or template text, recognized by its family's markers
    prompt = chat_render_prompt(chat_template_parse(profile.tmpl), messages, true, bos, eos);
  }
  // The messages (and the profile's system prompt among them) are plain text: only the template's markers
  // become control tokens. BOS is added unless the template wrote it.
  return model.tokenize_chat_prompt(prompt);
}

}  // namespace hearth::serve
