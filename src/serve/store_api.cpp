// Ollama's store endpoints over the server's model store (--models DIR): /api/pull (there is no Ollama
// registry here, so "model" is a source: an http(s) URL or hf:ORG/REPO/FILE.gguf; "name" is the store name,
// default the file name), /api/create (from a store model, with system/parameters/template), /api/copy and
// /api/delete. pull and create stream NDJSON progress unless "stream": false.
// A pull fetches for whoever can reach the server: only from public internet addresses (unless
// --allow-private-pull), at most --max-pull-size bytes, and what a client leaves unfinished is deleted.
#ifdef HEARTH_HAVE_HTTP
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

#include "hearth/error.h"
#include "hearth/store.h"
#include "serve/handler.h"
#include "serve/json_fields.h"
#include "serve/serve_state.h"

namespace hearth::serve {
namespace {

ModelStore store_of(const ServeState& state) {
  if (state.options.models_dir.empty())
    throw ApiError(400, "this server has no model store: start it with --models DIR (or without -m)");
  return ModelStore(state.options.models_dir);
}

// "model", or Ollama's older "name".
std::string model_field(const json& body, const char* what) {
  std::string name = get_string(body, "model").value_or("");
  if (name.empty()) name = get_string(body, "name").value_or("");
  if (name.empty()) throw bad_request(std::string("missing required field 'model' (") + what + ")", "missing_field");
  return name;
}

ModelName checked_name(const std::string& s) {
  try {
    return parse_model_name(s);
  } catch (const Error& e) {
    throw bad_request(e.what());
  }
}

// The file of the model the server was started with (-m) when name is that model. Over HTTP a path is never a
// base (it would let a client read the server's files), but the file the server serves already is.
std::optional<std::string> served_file(const ServeState& state, const std::string& name) {
  if (state.options.model_path.empty()) return std::nullopt;
  for (const ModelEntry& e : state.models.list())
    if (e.path == state.options.model_path && same_model(e.name, name)) return e.path;
  return std::nullopt;
}

// A client that went away: the store operation stops (and its partial download is deleted).
struct ClientGone : std::exception {};

// Runs op and answers with its status lines: streamed as NDJSON as they come, or (stream false) one JSON
// object at the end, {"status": "success"} or the error with its HTTP status.
void run_with_progress(httplib::Response& res, bool stream,
                       std::function<void(const std::function<void(const json&)>& emit)> op) {
  if (!stream) {
    try {
      op([](const json&) {});
    } catch (const Error& e) {
      const std::string msg = e.what();
      throw ApiError(msg.find("HTTP 404") != std::string::npos || msg.find("not found") != std::string::npos ? 404
                                                                                                              : 400,
                     msg);
    }
    send_json(res, {{"status", "success"}});
    return;
  }
  auto op_ptr = std::make_shared<decltype(op)>(std::move(op));
  res.set_chunked_content_provider("application/x-ndjson", [op_ptr](size_t, httplib::DataSink& sink) {
    auto emit = [&sink](const json& j) {
      const std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
      if (!sink.write(line.data(), line.size())) throw ClientGone();
    };
    try {
      (*op_ptr)(emit);
      emit({{"status", "success"}});
    } catch (const ClientGone&) {
      return false;
    } catch (const std::exception& e) {
      try {
        emit({{"error", e.what()}});
      } catch (const ClientGone&) {
        return false;
      }
    }
    sink.done();
    return true;
  });
}

// Progress lines at most every 100 ms (and at each change of status).
std::function<void(const std::string&, uint64_t, uint64_t)> throttled(const std::function<void(const json&)>& emit,
                                                                      const std::string& digest_hint) {
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  auto last_status = std::make_shared<std::string>();
  return [emit, last, last_status, digest_hint](const std::string& status, uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (status == *last_status && done != total && now - *last < std::chrono::milliseconds(100)) return;
    *last = now;
    *last_status = status;
    json j = {{"status", status}};
    if (total) {
      j["digest"] = digest_hint;
      j["total"] = total;
      j["completed"] = done;
    }
    emit(j);
  };
}

void pull(ServeState& state, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const std::string source = model_field(body, "an http(s) URL or hf:ORG/REPO/FILE.gguf");
  if (!is_remote_source(source))
    throw bad_request("'" + source +
                      "' is not a source hearth can pull: give an http(s) URL or hf:ORG/REPO/FILE.gguf (there is no "
                      "Ollama registry here)");
  PullOptions po;
  po.name = get_string(body, "destination").value_or("");
  if (po.name.empty()) po.name = get_string(body, "as").value_or("");
  if (!po.name.empty()) checked_name(po.name);
  po.sha256 = get_string(body, "sha256").value_or("");
  if (auto size = get_integer(body, "size")) {
    if (*size < 0) throw bad_request("'size' must not be negative");
    po.size = static_cast<uint64_t>(*size);
  }
  po.download.allow_private = state.options.allow_private_pull;
  po.download.max_bytes = state.options.max_pull_bytes;
  po.keep_partial = false;  // a client that leaves may never come back to resume
  const bool stream = get_bool(body, "stream").value_or(true);
  ModelStore store = store_of(state);
  run_with_progress(res, stream, [&state, store, source, po](const std::function<void(const json&)>& emit) mutable {
    emit({{"status", "pulling " + source}});
    auto report = throttled(emit, source);
    store.pull(source, po, [&](const std::string& status, uint64_t done, uint64_t total) {
      if (state.stopping) throw Error("the server is shutting down");
      report(status, done, total);
    });
  });
}

// "parameters": {"temperature": 0, "stop": ["a", "b"]} as profile lines.
std::vector<std::pair<std::string, std::string>> parameters_of(const json& body) {
  std::vector<std::pair<std::string, std::string>> out;
  const json* p = get_object(body, "parameters");
  if (!p) return out;
  for (auto it = p->begin(); it != p->end(); ++it) {
    auto one = [&](const json& v) {
      std::string text;
      if (v.is_string()) text = v.get<std::string>();
      else if (v.is_number_integer()) text = std::to_string(v.get<long long>());
      else if (v.is_number()) text = v.dump();
      else throw bad_request("parameter '" + it.key() + "' must be a number or a string");
      try {
        check_profile_parameter(it.key(), text);
      } catch (const Error& e) {
        throw bad_request(e.what());
      }
      out.emplace_back(it.key(), text);
    };
    if (it.value().is_array()) {
      for (const json& v : it.value()) one(v);
    } else {
      one(it.value());
    }
  }
  return out;
}

void create(ServeState& state, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const std::string name = model_field(body, "the name to create");
  checked_name(name);
  Profile p;
  // Ollama's older clients send the whole Modelfile text.
  if (auto mf = get_string(body, "modelfile")) {
    try {
      p = parse_profile(*mf);
    } catch (const Error& e) {
      throw bad_request(e.what());
    }
  }
  if (auto from = get_string(body, "from")) p.from = *from;
  if (auto system = get_string(body, "system")) p.system = *system;
  if (auto tmpl = get_string(body, "template")) p.tmpl = *tmpl;
  for (auto& kv : parameters_of(body)) p.parameters.push_back(std::move(kv));
  for (const char* unsupported : {"files", "adapters", "quantize", "messages", "license"})
    if (body.contains(unsupported) && !body[unsupported].is_null())
      throw ApiError(501, std::string("'") + unsupported + "' is not supported by /api/create in hearth",
                     "not_implemented_error");
  if (p.from.empty()) throw bad_request("missing required field 'from' (a model in the store)", "missing_field");
  ModelStore store = store_of(state);
  // Over HTTP the base must be a store model or the -m model (imported now), never a path.
  const std::string base_name = p.from;
  if (std::optional<std::string> file = served_file(state, p.from)) {
    p.from = *file;
  } else {
    std::optional<StoreModel> base;
    try {
      base = store.find(p.from);
    } catch (const Error&) {
    }
    if (!base)
      throw ApiError(404, "base model '" + p.from + "' not found in the store (import files with `hearth import`)");
  }
  const bool stream = get_bool(body, "stream").value_or(true);
  run_with_progress(res, stream, [store, name, p, base_name](const std::function<void(const json&)>& emit) {
    emit({{"status", "using base model " + base_name}});
    ModelStore s = store;
    StoreModel m = s.create(name, p, throttled(emit, ""));
    emit({{"status", "writing manifest"}});
    (void)m;
  });
}

void copy(ServeState& state, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const std::string src = require_string(body, "source");
  const std::string dst = require_string(body, "destination");
  checked_name(dst);
  ModelStore store = store_of(state);
  if (std::optional<std::string> file = served_file(state, src)) {
    store.import_file(*file, dst);  // the -m model: into the store under the new name
    res.status = 200;
    return;
  }
  std::optional<StoreModel> m;
  try {
    m = store.find(src);
  } catch (const Error&) {
  }
  if (!m) throw ApiError(404, "model '" + src + "' not found");
  store.copy(src, dst);
  res.status = 200;
}

void remove(ServeState& state, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const std::string name = model_field(body, "the model to delete");
  ModelStore store = store_of(state);
  std::optional<StoreModel> m;
  try {
    m = store.find(name);
  } catch (const Error&) {
  }
  if (!m) throw ApiError(404, "model '" + name + "' not found");
  if (m->loose) throw bad_request("'" + name + "' is a file in the models directory (" + m->path +
                                  "), not a registered model: delete the file itself");
  store.remove(name);
  res.status = 200;
}

}  // namespace

void add_store_routes(httplib::Server& http, ServeState& state) {
  const ApiStyle S = ApiStyle::Ollama;
  // Downloads that a pull of an earlier run of the server (or of `hearth pull`) left unfinished.
  if (!state.options.models_dir.empty()) {
    try {
      ModelStore(state.options.models_dir).collect_partial_downloads();
    } catch (const std::exception&) {  // an unreadable store is reported by the requests that use it
    }
  }
  http.Post("/api/pull", guarded(S, [&state](const httplib::Request& q, httplib::Response& r) { pull(state, q, r); }));
  http.Post("/api/create",
            guarded(S, [&state](const httplib::Request& q, httplib::Response& r) { create(state, q, r); }));
  http.Post("/api/copy", guarded(S, [&state](const httplib::Request& q, httplib::Response& r) { copy(state, q, r); }));
  auto del = guarded(S, [&state](const httplib::Request& q, httplib::Response& r) { remove(state, q, r); });
  http.Delete("/api/delete", del);
  http.Post("/api/delete", del);
}

}  // namespace hearth::serve
#endif  // HEARTH_HAVE_HTTP
