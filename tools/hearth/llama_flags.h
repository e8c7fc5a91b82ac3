// llama.cpp's multi-letter single-dash flags (-ngl, -cnv, -fa, -ctk, ...). CLI11 knows only one-letter short
// options, so "-cnv" would read as "-c nv" and "-fa" as "-f a": they are rewritten to hearth's long options
// before parsing, or refused with a message that says why where hearth has no equivalent.
#pragma once
#include <string>
#include <vector>

namespace hearth::cli {

// args: the command line without the program name. Throws hearth::Error for a flag hearth does not take.
std::vector<std::string> translate_llama_flags(const std::vector<std::string>& args);

}  // namespace hearth::cli
