// The Python module `hearth`: a model you load once and then tokenize with, generate and chat with (streaming
// through an on_text callback), and embed with. Generation runs without the GIL; callbacks take it back.
//
//   import hearth
//   m = hearth.Model("model.gguf", n_threads=4)
//   print(m.generate("Once upon a time", max_tokens=50, temperature=0))
//   m.chat([{"role": "user", "content": "Hi"}], on_text=lambda t: print(t, end=""))
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hearth/chat.h"
#include "hearth/choices.h"
#include "hearth/embed.h"
#include "hearth/error.h"
#include "hearth/generate.h"
#include "hearth/model.h"

namespace py = pybind11;

namespace {

// What generate() and chat() take beyond the prompt: the generation settings and the session's context.
struct Options {
  hearth::GenerateParams gen;
  int n_ctx = 0;
};

class PyModel {
 public:
  PyModel(const std::string& path, int n_threads, int n_gpu_layers) {
    hearth::LoadParams lp;
    lp.n_threads = n_threads;
    lp.n_gpu_layers = n_gpu_layers;
    py::gil_scoped_release nogil;
    model_ = hearth::Model::load(path, lp);
  }

  py::dict info() const {
    const hearth::ModelInfo& i = model_->info();
    py::dict d;
    d["path"] = i.path;
    d["name"] = i.name;
    d["arch"] = i.arch;
    d["file_type"] = i.file_type;
    d["n_params"] = i.n_params;
    d["n_vocab"] = i.n_vocab;
    d["n_embd"] = i.n_embd;
    d["n_layer"] = i.n_layer;
    d["n_ctx_train"] = i.n_ctx_train;
    d["chat_template"] = model_->chat_format_name();
    return d;
  }

  std::vector<int32_t> tokenize(const std::string& text, bool add_bos, bool special) const {
    return model_->tokenize(text, add_bos, special);
  }

  std::string detokenize(const std::vector<int32_t>& ids) const {
    for (int32_t id : ids)
      if (id < 0 || id >= model_->info().n_vocab)
        throw hearth::Error("token id " + std::to_string(id) + " is outside the vocabulary");
    return model_->detokenize(ids);
  }

  std::string generate(const std::string& prompt, const Options& o, const py::object& on_text) {
    return run(model_->tokenize(prompt, true, true), o, on_text);
  }

  std::string chat(const std::vector<std::map<std::string, std::string>>& messages, const Options& o,
                   const py::object& on_text) {
    std::vector<hearth::ChatMessage> msgs;
    for (const auto& m : messages) {
      auto role = m.find("role"), content = m.find("content");
      if (role == m.end() || content == m.end()) throw hearth::Error("chat: every message needs a role and content");
      msgs.push_back({role->second, content->second});
    }
    return run(model_->tokenize_chat(msgs, true), o, on_text);
  }

  // [{"text", "probability", "logprob"}] of each choice as the continuation of prompt (hearth/choices.h).
  py::list choices(const std::string& prompt, const std::vector<std::string>& choices) {
    std::vector<hearth::ChoiceScore> scores;
    {
      py::gil_scoped_release nogil;
      scores = hearth::score_choices(*model_, model_->tokenize(prompt, true, true), choices);
    }
    py::list out;
    for (const hearth::ChoiceScore& c : scores) {
      py::dict d;
      d["text"] = c.text;
      d["probability"] = c.probability;
      d["logprob"] = c.logprob;
      out.append(d);
    }
    return out;
  }

  std::vector<float> embed(const std::string& text) {
    py::gil_scoped_release nogil;
    return hearth::embed(*model_, {hearth::embed_tokenize(*model_, text)})[0];
  }

 private:
  std::string run(const std::vector<int32_t>& tokens, const Options& o, const py::object& on_text) {
    hearth::SessionParams sp;
    sp.n_ctx = o.n_ctx;
    std::string text;
    std::exception_ptr callback_error;  // the callback's exception, raised again once the GIL is back
    {
      py::gil_scoped_release nogil;
      hearth::Session session(*model_, sp);
      hearth::generate(session, tokens, o.gen, [&](const std::string& piece) {
        text += piece;
        if (on_text.is_none()) return true;
        py::gil_scoped_acquire gil;
        try {
          // None (a print) or anything true continues; False stops.
          py::object r = on_text(py::bytes(piece).attr("decode")("utf-8", "replace"));
          return r.is_none() || r.cast<bool>();
        } catch (...) {
          callback_error = std::current_exception();
          return false;
        }
      });
    }
    if (callback_error) std::rethrow_exception(callback_error);
    return text;
  }

  std::unique_ptr<hearth::Model> model_;
};

// json_schema: JSON text, or the schema as Python values (a dict), written out by Python's json module, which
// keeps the dict's order (generation follows the properties' order).
std::string schema_text(const py::handle& value) {
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  if (!py::isinstance<py::dict>(value) && !py::isinstance<py::bool_>(value))
    throw py::type_error("json_schema must be a str (JSON text) or a dict, got " +
                         std::string(py::str(py::type::of(value).attr("__name__"))));
  return py::module_::import("json").attr("dumps")(value).cast<std::string>();
}

// The sampling keywords of generate() and chat(); an unknown one is a TypeError, as Python's own are.
Options options(const py::kwargs& kw, py::object& on_text) {
  Options o;
  hearth::GenerateParams& g = o.gen;
  std::optional<std::string> schema;
  for (const auto& [key, value] : kw) {
    const std::string k = py::str(key);
    if (k == "max_tokens") g.n_predict = value.cast<int>();
    else if (k == "n_ctx") o.n_ctx = value.cast<int>();
    else if (k == "temperature") g.sampling.temperature = value.cast<float>();
    else if (k == "top_k") g.sampling.top_k = value.cast<int>();
    else if (k == "top_p") g.sampling.top_p = value.cast<float>();
    else if (k == "min_p") g.sampling.min_p = value.cast<float>();
    else if (k == "repeat_penalty") g.sampling.repeat_penalty = value.cast<float>();
    else if (k == "seed") { if (!value.is_none()) g.sampling.seed = value.cast<uint64_t>(); }
    else if (k == "stop") g.stop = value.cast<std::vector<std::string>>();
    else if (k == "json") g.json = value.cast<bool>();
    else if (k == "json_schema") { if (!value.is_none()) schema = schema_text(value); }
    else if (k == "on_text") on_text = py::reinterpret_borrow<py::object>(value);
    else throw py::type_error("unexpected keyword argument '" + k + "'");
  }
  if (schema) {
    hearth::check_json_schema(*schema);
    g.json = true;
    g.json_schema = *schema;
  }
  return o;
}

constexpr const char* kSamplingDoc =
    " Keywords: max_tokens (-1: until the end), n_ctx (0: the training context, at most 4096), temperature (0: "
    "greedy), top_k, top_p, min_p, repeat_penalty, seed, stop (list of strings), json (one JSON value), json_schema "
    "(JSON text or a dict), on_text (called with each piece of text; return False to stop).";

}  // namespace

PYBIND11_MODULE(hearth, mod) {
  mod.doc() = "hearth: run GGUF language models on your own hardware";
  py::register_exception<hearth::Error>(mod, "Error", PyExc_RuntimeError);

  py::class_<PyModel>(mod, "Model")
      .def(py::init<const std::string&, int, int>(), py::arg("path"), py::arg("n_threads") = 0,
           py::arg("n_gpu_layers") = -1, "Loads a GGUF model (n_gpu_layers -1: as many layers on GPUs as fit).")
      .def_property_readonly("info", &PyModel::info)
      .def("tokenize", &PyModel::tokenize, py::arg("text"), py::arg("add_bos") = true, py::arg("special") = true)
      .def("detokenize", &PyModel::detokenize, py::arg("ids"))
      .def("embed", &PyModel::embed, py::arg("text"), "Mean-pooled, unit-length embedding of text.")
      .def("choices", &PyModel::choices, py::arg("prompt"), py::arg("choices"),
           "Each choice's probability as the continuation of prompt, scored in one pass.")
      .def(
          "generate",
          [](PyModel& m, const std::string& prompt, const py::kwargs& kw) {
            py::object on_text = py::none();
            const Options o = options(kw, on_text);
            return m.generate(prompt, o, on_text);
          },
          py::arg("prompt"), (std::string("The continuation of prompt.") + kSamplingDoc).c_str())
      .def(
          "chat",
          [](PyModel& m, const std::vector<std::map<std::string, std::string>>& messages, const py::kwargs& kw) {
            py::object on_text = py::none();
            const Options o = options(kw, on_text);
            return m.chat(messages, o, on_text);
          },
          py::arg("messages"),
          (std::string("The reply to messages ([{'role': ..., 'content': ...}]) in the model's chat template.") +
           kSamplingDoc).c_str());
}
