// Base64 (RFC 4648, standard alphabet, padded) through OpenSSL's EVP encoder.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace skiff::common {

std::string base64Encode(std::string_view in);
// InvalidArgument on characters outside the alphabet or bad padding. Whitespace is not allowed.
Result<std::string> base64Decode(std::string_view in);

}  // namespace skiff::common
