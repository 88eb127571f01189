// Quantity parsing (k8s.io/apimachinery/pkg/api/resource, for the forms manifests use).
#include "common/quantity.h"

#include <cmath>
#include <string>

namespace skiff::common {

Result<std::int64_t> parseQuantityMilli(std::string_view text) {
  auto bad = [&]() {
    return invalidArgument(
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': \"" +
        std::string(text) + "\"");
  };
  if (text.empty()) return bad();
  std::size_t i = 0;
  bool neg = false;
  if (text[0] == '+' || text[0] == '-') {
    neg = text[0] == '-';
    ++i;
  }
  std::size_t numStart = i;
  bool dot = false;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    if (text[i] == '.') {
      if (dot) return bad();
      dot = true;
    }
    ++i;
  }
  std::string number(text.substr(numStart, i - numStart));
  if (number.empty() || number == ".") return bad();
  std::string_view suffix = text.substr(i);
  long double mult = 1;
  if (suffix.empty()) {
    mult = 1;
  } else if (suffix == "m") {
    mult = 1e-3L;
  } else if (suffix == "u") {
    mult = 1e-6L;
  } else if (suffix == "n") {
    mult = 1e-9L;
  } else if (suffix == "k") {
    mult = 1e3L;
  } else if (suffix == "M") {
    mult = 1e6L;
  } else if (suffix == "G") {
    mult = 1e9L;
  } else if (suffix == "T") {
    mult = 1e12L;
  } else if (suffix == "P") {
    mult = 1e15L;
  } else if (suffix == "E") {
    mult = 1e18L;
  } else if (suffix == "Ki") {
    mult = 1024.0L;
  } else if (suffix == "Mi") {
    mult = 1024.0L * 1024;
  } else if (suffix == "Gi") {
    mult = 1024.0L * 1024 * 1024;
  } else if (suffix == "Ti") {
    mult = 1024.0L * 1024 * 1024 * 1024;
  } else if (suffix == "Pi") {
    mult = 1024.0L * 1024 * 1024 * 1024 * 1024;
  } else if (suffix == "Ei") {
    mult = 1024.0L * 1024 * 1024 * 1024 * 1024 * 1024;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string exp(suffix.substr(1));
    if (exp.empty()) return bad();
    std::size_t used = 0;
    int e = 0;
    try {
      e = std::stoi(exp, &used);
    } catch (const std::exception&) {
      return bad();
    }
    if (used != exp.size() || e > 18 || e < -18) return bad();
    mult = std::pow(10.0L, e);
  } else {
    return bad();
  }
  long double v = std::stold(number) * mult * 1000.0L;
  if (v > 9.2e18L) return invalidArgument("quantity too large: \"" + std::string(text) + "\"");
  auto milli = static_cast<std::int64_t>(std::ceil(v - 1e-9L));
  return neg ? -milli : milli;
}

Result<std::int64_t> parseQuantity(std::string_view text) {
  SKIFF_ASSIGN_OR_RETURN(std::int64_t milli, parseQuantityMilli(text));
  return milli >= 0 ? (milli + 999) / 1000 : -((-milli) / 1000);
}

}  // namespace skiff::common
