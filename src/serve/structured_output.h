// Structured output requests into GenerateParams::json / json_schema: OpenAI's response_format (json_object,
// json_schema) and Ollama's format ("json" or a schema). A schema keeps its properties in the order the request
// wrote them (generation follows that order), so it is read again from the body text. A schema outside the
// supported subset is a 400 naming what is not supported.
#pragma once
#include <string>

#include "hearth/generate.h"
#include "serve/json_fields.h"

namespace hearth::serve {

void parse_response_format(const std::string& body_text, const json& body, GenerateParams& g);
void parse_ollama_format(const std::string& body_text, const json& body, GenerateParams& g);

}  // namespace hearth::serve
