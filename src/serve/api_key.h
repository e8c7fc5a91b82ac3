// The API key check: the key from an Authorization header, compared in constant time.
#pragma once
#include <string>

namespace hearth::serve {

// The credentials of an "Authorization: Bearer KEY" header, the scheme in any case and any spaces or tabs
// around KEY (RFC 7235); "" for another scheme or none.
std::string bearer_token(const std::string& authorization);

// Whether `given` is `key`, in time that does not depend on where they differ. An empty key matches nothing.
bool same_key(const std::string& given, const std::string& key);

}  // namespace hearth::serve
