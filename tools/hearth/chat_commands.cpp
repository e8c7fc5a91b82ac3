#include "chat_commands.h"

#include <sstream>

namespace hearth::cli {
namespace {

const char* kHelp =
    "Available commands:\n"
    "  /set system TEXT          set the system message\n"
    "  /set parameter NAME VALUE temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n,\n"
    "                            presence_penalty, frequency_penalty, seed, num_predict\n"
    "  /show info|parameters|system\n"
    "  /clear                    forget the conversation (the system message stays)\n"
    "  /bye                      quit (or Ctrl-D)\n"
    "  /?                        this help\n"
    "Use \"\"\" to begin and end a message of several lines.\n";

bool set_parameter(const std::string& name, const std::string& value, GenerateParams& gp) {
  SamplerParams& s = gp.sampling;
  size_t used = 0;
  try {
    if (name == "temperature") s.temperature = std::stof(value, &used);
    else if (name == "top_k") s.top_k = std::stoi(value, &used);
    else if (name == "top_p") s.top_p = std::stof(value, &used);
    else if (name == "min_p") s.min_p = std::stof(value, &used);
    else if (name == "repeat_penalty") s.repeat_penalty = std::stof(value, &used);
    else if (name == "repeat_last_n") s.repeat_last_n = std::stoi(value, &used);
    else if (name == "presence_penalty") s.presence_penalty = std::stof(value, &used);
    else if (name == "frequency_penalty") s.frequency_penalty = std::stof(value, &used);
    else if (name == "seed") s.seed = std::stoull(value, &used);
    else if (name == "num_predict") gp.n_predict = std::stoi(value, &used);
    else return false;
  } catch (const std::exception&) {
    return false;
  }
  return used == value.size();
}

void show_parameters(const GenerateParams& gp, std::ostream& out) {
  const SamplerParams& s = gp.sampling;
  out << "temperature " << s.temperature << "\ntop_k " << s.top_k << "\ntop_p " << s.top_p << "\nmin_p " << s.min_p
      << "\nrepeat_penalty " << s.repeat_penalty << "\nrepeat_last_n " << s.repeat_last_n << "\npresence_penalty "
      << s.presence_penalty << "\nfrequency_penalty " << s.frequency_penalty << "\nseed "
      << (s.seed == 0xFFFFFFFF ? std::string("random") : std::to_string(s.seed)) << "\nnum_predict " << gp.n_predict
      << '\n';
}

}  // namespace

ChatCommand run_chat_command(const std::string& line, const Model& model, int n_ctx, ChatState& st, std::ostream& out) {
  if (line.empty() || line[0] != '/') return ChatCommand::NotACommand;
  std::istringstream in(line);
  std::string cmd, what;
  in >> cmd;
  if (cmd == "/bye" || cmd == "/exit") return ChatCommand::Quit;
  if (cmd == "/?" || cmd == "/help") {
    out << kHelp;
  } else if (cmd == "/clear") {
    const bool system = !st.messages.empty() && st.messages.front().role == "system";
    st.messages.resize(system ? 1 : 0);
    out << "Cleared the conversation.\n";
  } else if (cmd == "/set") {
    in >> what;
    if (what == "system") {
      std::string text;
      std::getline(in >> std::ws, text);
      if (!st.messages.empty() && st.messages.front().role == "system") st.messages.erase(st.messages.begin());
      if (!text.empty()) st.messages.insert(st.messages.begin(), {"system", text});
      out << (text.empty() ? "Removed the system message.\n" : "Set the system message.\n");
    } else if (what == "parameter") {
      std::string name, value, extra;
      in >> name >> value;
      if (name.empty() || value.empty() || (in >> extra) || !set_parameter(name, value, st.gp))
        out << "Usage: /set parameter NAME VALUE (see /?); nothing changed.\n";
      else
        out << "Set parameter '" << name << "' to '" << value << "'.\n";
    } else {
      out << "Unknown '/set " << what << "'. Type /? for help.\n";
    }
  } else if (cmd == "/show") {
    in >> what;
    const ModelInfo& i = model.info();
    if (what == "info") {
      out << "  architecture    " << i.arch << "\n  name            " << i.name << "\n  parameters      " << i.n_params
          << "\n  quantization    " << i.file_type << "\n  context length  " << n_ctx << " (trained "
          << i.n_ctx_train << ")\n  embedding       " << i.n_embd << "\n  layers          " << i.n_layer
          << "\n  chat template   " << model.chat_format_name() << '\n';
    } else if (what == "parameters") {
      show_parameters(st.gp, out);
    } else if (what == "system") {
      out << (!st.messages.empty() && st.messages.front().role == "system" ? st.messages.front().content
                                                                             : std::string("(no system message)"))
          << '\n';
    } else {
      out << "Unknown '/show " << what << "'. Type /? for help.\n";
    }
  } else {
    out << "Unknown command '" << cmd << "'. Type /? for help.\n";
  }
  return ChatCommand::Done;
}

}  // namespace hearth::cli
