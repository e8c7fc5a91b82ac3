// Bounds on JSON that comes from outside (request bodies, schemas handed to the API): how deep it nests and
// how big a schema may be. Every check here is iterative, so a hostile document cannot exhaust the stack
// while it is being measured; code that walks JSON recursively runs only after these checks.
#pragma once
#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hearth::sampling {

// A JSON schema: nesting of the schema document (arrays and objects; each schema level is two of them:
// "properties": {"name": {...}}), JSON values in it, and members of any one object in it. Parsing an object
// keeping its members' order costs time quadratic in its size, hence the per-object bound.
constexpr int kMaxSchemaDepth = 64;
constexpr size_t kMaxSchemaValues = 10000;
constexpr size_t kMaxSchemaMembers = 1000;

// The deepest nesting of arrays and objects in JSON text (0 for a scalar), read without recursion and
// without building anything. Counting stops at limit + 1: the answer is then only "deeper than limit".
// Text that is not valid JSON gets some depth; the parser rejects it afterwards anyway.
int json_text_depth(std::string_view text, int limit);

// Throws hearth::Error naming the limit when schema exceeds kMaxSchemaDepth, kMaxSchemaValues or
// kMaxSchemaMembers.
void check_schema_limits(const nlohmann::json& schema);

}  // namespace hearth::sampling
