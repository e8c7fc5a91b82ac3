// hearth info: what a model file is and what it needs to run.
#include <cstdio>

#include "commands.h"

namespace hearth::cli {
namespace {

struct InfoOptions {
  std::string model;
  std::string models_dir;
  int n_ctx = 0;
  bool plan = false;
  ModelOptions load;
};

std::string human(double bytes) {
  char buf[32];
  if (bytes >= 1073741824.0)
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
  else
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
  return buf;
}

std::string count(uint64_t n) {
  char buf[32];
  if (n >= 1000000000ull)
    std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  else if (n >= 1000000ull)
    std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  return buf;
}

int info(InfoOptions& o) {
  const std::string name = o.model;
  o.model = resolve_model(o.model, o.models_dir);
  ModelInfo mi = inspect_model(o.model);
  int n_ctx = o.n_ctx > 0 ? o.n_ctx : (mi.n_ctx_train > 0 ? std::min(mi.n_ctx_train, 4096) : 4096);
  if (name != o.model) std::printf("model:          %s\n", name.c_str());
  std::printf("file:           %s (%s)\n", mi.path.c_str(), human(static_cast<double>(mi.file_size)).c_str());
  if (!mi.name.empty()) std::printf("name:           %s\n", mi.name.c_str());
  std::printf("architecture:   %s\n", mi.arch.c_str());
  std::printf("parameters:     %s\n", count(mi.n_params).c_str());
  std::printf("type:           %s\n", mi.file_type.c_str());
  std::printf("tensor types:  ");
  for (const auto& [type, n] : mi.tensor_types) std::printf(" %s×%d", type.c_str(), n);
  std::printf("\n");
  if (mi.n_layer > 0) {
    std::printf("shape:          %d layers, embedding %d, %d heads (%d KV heads, head dim %d), feed-forward %d\n",
                mi.n_layer, mi.n_embd, mi.n_head, mi.n_head_kv, mi.head_dim, mi.n_ff);
    if (mi.n_expert > 0)
      std::printf("experts:        %d per layer, %d per token, feed-forward %d each\n", mi.n_expert, mi.n_expert_used,
                  mi.n_ff_exp);
    std::printf("context:        %d trained\n", mi.n_ctx_train);
  }
  std::printf("tokenizer:      %s%s%s, %d tokens\n", mi.tokenizer_model.c_str(),
              mi.tokenizer_pre.empty() ? "" : " / ", mi.tokenizer_pre.c_str(), mi.n_vocab);
  std::printf("chat template:  %s\n", mi.chat_template.empty() ? "none" : "yes");
  if (mi.n_layer > 0) {
    double kv = 2.0 * mi.n_layer * n_ctx * mi.n_head_kv * mi.head_dim * 2;  // F16 K and V
    double act = 512.0 * 4 * (3.0 * mi.n_embd + 4.0 * mi.n_head * mi.head_dim + 2.0 * mi.n_ff + mi.n_vocab);
    std::printf("memory (-c %d): weights %s + KV cache %s + buffers %s = %s\n", n_ctx,
                human(static_cast<double>(mi.weight_bytes)).c_str(), human(kv).c_str(), human(act).c_str(),
                human(static_cast<double>(mi.weight_bytes) + kv + act).c_str());
  }
  if (o.plan) {
    o.load.n_ctx = n_ctx;
    LoadParams lp = load_params(o.load);
    show_load_progress(lp, name);
    auto model = Model::load(o.model, lp);
    std::printf("placement:      %s\n", model->placement().text.c_str());
  }
  return 0;
}

}  // namespace

Runner add_info(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand("info", "describe a model file and the memory it needs");
  cmd->add_option("model", o->model, "the model: a GGUF file, a store name, or hf:ORG/REPO/FILE.gguf / a URL")
      ->required();
  add_models_option(*cmd, o->models_dir);
  cmd->add_option("-c,--ctx-size", o->n_ctx, "context size for the memory estimate");
  cmd->add_flag("--plan", o->plan, "load the model and print where each layer would run");
  cmd->add_option("--n-gpu-layers", o->load.n_gpu_layers, "(-ngl) layers on GPU for --plan (-1: automatic)");
  cmd->add_option("--gpu-mem-limit", o->load.gpu_mem_limit, "GPU memory cap for --plan (e.g. 8G)");
  cmd->add_option("--split-mode", o->load.split_mode, "(-sm) several GPUs, for --plan: layer, row or none")
      ->check(CLI::IsMember({"layer", "row", "none"}));
  cmd->add_option("--tensor-split", o->load.tensor_split, "(-ts) share of the model per GPU for --plan, e.g. 3,1");
  cmd->add_option("--main-gpu", o->load.main_gpu, "(-mg) main GPU for --plan (--split-mode none or row)");
  return [o] { return info(*o); };
}

}  // namespace hearth::cli
