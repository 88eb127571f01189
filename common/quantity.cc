// Quantity parsing (k8s.io/apimachinery/pkg/api/resource, for the forms manifests use), in exact
// integer arithmetic: a quantity is sign × digits × 10^exponent × 1024^k, and the result is
// rounded up (towards +∞) to the unit asked for, as Quantity.Value()/MilliValue() do.
#include "common/quantity.h"

#include <cstdint>
#include <limits>
#include <string>

namespace skiff::common {
namespace {

using Int128 = __int128;

// The number part, exactly: value = mantissa × 10^exp10 (+ a little more when `sticky`: digits
// beyond what the mantissa keeps were dropped and one of them was not zero).
struct Decimal {
  bool negative = false;
  std::uint64_t mantissa = 0;  // the first kKeptDigits significant digits
  std::int64_t exp10 = 0;
  int digits = 0;  // significant digits of the whole number, kept or not
  bool sticky = false;
};

// A 19-digit mantissa (< 2^64) times 1024^6 (2^60) still fits in 127 bits.
constexpr int kKeptDigits = 19;
constexpr std::int64_t kExponentCap = 1'000'000;  // beyond this, anything non-zero over/underflows

Status malformed(std::string_view text) {
  return invalidArgument(
      "quantities must match the regular expression "
      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': \"" +
      std::string(text) + "\"");
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Parses [+-]?[0-9.]+ at the start of text; `end` is where the suffix begins.
Result<Decimal> parseNumber(std::string_view text, std::size_t& end) {
  Decimal d;
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) d.negative = text[i++] == '-';
  bool dot = false;
  bool anyDigit = false;
  for (; i < text.size() && (isDigit(text[i]) || text[i] == '.'); ++i) {
    if (text[i] == '.') {
      if (dot) return malformed(text);
      dot = true;
      continue;
    }
    anyDigit = true;
    int digit = text[i] - '0';
    if (d.digits == 0 && digit == 0) {
      if (dot) --d.exp10;  // a leading zero of the fraction
      continue;
    }
    ++d.digits;
    if (d.digits <= kKeptDigits) {
      d.mantissa = d.mantissa * 10 + static_cast<std::uint64_t>(digit);
      if (dot) --d.exp10;
    } else {
      if (!dot) ++d.exp10;  // a dropped integer digit still scales the value
      if (digit != 0) d.sticky = true;
    }
  }
  if (!anyDigit) return malformed(text);
  end = i;
  return d;
}

// The suffix as a power of ten and a power of 1024; false when it is not one.
bool parseSuffix(std::string_view s, std::int64_t& exp10, int& exp1024) {
  static constexpr std::pair<std::string_view, int> kDecimal[] = {
      {"", 0},  {"n", -9}, {"u", -6}, {"m", -3}, {"k", 3},
      {"M", 6}, {"G", 9},  {"T", 12}, {"P", 15}, {"E", 18}};
  static constexpr std::pair<std::string_view, int> kBinary[] = {{"Ki", 1}, {"Mi", 2}, {"Gi", 3},
                                                                 {"Ti", 4}, {"Pi", 5}, {"Ei", 6}};
  for (const auto& [name, e] : kDecimal) {
    if (s == name) {
      exp10 = e;
      return true;
    }
  }
  for (const auto& [name, k] : kBinary) {
    if (s == name) {
      exp1024 = k;
      return true;
    }
  }
  if (s.empty() || (s[0] != 'e' && s[0] != 'E')) return false;
  std::size_t i = 1;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (i == s.size()) return false;
  std::int64_t e = 0;
  for (; i < s.size(); ++i) {
    if (!isDigit(s[i])) return false;
    e = std::min<std::int64_t>(e * 10 + (s[i] - '0'), kExponentCap);
  }
  exp10 = negative ? -e : e;
  return true;
}

Int128 pow10(std::int64_t n) {
  Int128 p = 1;
  for (std::int64_t i = 0; i < n; ++i) p *= 10;
  return p;
}

// ceil(quantity × 10^scale) as an int64, exactly.
Result<std::int64_t> scaled(std::string_view text, int scale) {
  std::size_t end = 0;
  SKIFF_ASSIGN_OR_RETURN(Decimal d, parseNumber(text, end));
  std::int64_t suffixExp10 = 0;
  int exp1024 = 0;
  if (!parseSuffix(text.substr(end), suffixExp10, exp1024)) return malformed(text);
  if (d.mantissa == 0 && !d.sticky) return std::int64_t{0};
  const std::int64_t e = d.exp10 + suffixExp10 + scale;
  auto tooLarge = [&]() -> Status {
    return invalidArgument("quantity too large: \"" + std::string(text) + "\"");
  };
  // The value is at least 10^(kept digits - 1 + e): from 10^19 on it cannot fit.
  const int kept = std::min(d.digits, kKeptDigits);
  if (kept - 1 + e >= 19) return tooLarge();
  Int128 numerator = static_cast<Int128>(d.mantissa) << (10 * exp1024);
  Int128 magnitude;
  bool inexact = d.sticky;
  if (e >= 0) {
    magnitude = numerator * pow10(e);  // < 10^19 × 2^60
  } else if (e < -38) {
    magnitude = 0;  // numerator < 2^127 < 10^39: the value is below one unit
    inexact = true;
  } else {
    Int128 divisor = pow10(-e);
    magnitude = numerator / divisor;
    if (numerator % divisor != 0) inexact = true;
  }
  // Round towards +∞: up for positive values, down in magnitude (truncation) for negative ones.
  if (inexact && !d.negative) magnitude += 1;
  if (magnitude > std::numeric_limits<std::int64_t>::max()) return tooLarge();
  auto v = static_cast<std::int64_t>(magnitude);
  return d.negative ? -v : v;
}

}  // namespace

Result<std::int64_t> parseQuantityMilli(std::string_view text) { return scaled(text, 3); }

Result<std::int64_t> parseQuantity(std::string_view text) { return scaled(text, 0); }

}  // namespace skiff::common
