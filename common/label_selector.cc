// Label-selector lexer, parser, validation and matcher (mirrors apimachinery's labels package).
#include "common/label_selector.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace skiff::common {

namespace {

bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? of at most 63 chars.
bool isQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!isAlnum(s.front()) || !isAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// RFC 1123 subdomain: lowercase alphanumerics, '-' and '.', ≤ 253 chars, alnum at both ends.
bool isDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  auto lowerAlnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lowerAlnum(s.front()) || !lowerAlnum(s.back())) return false;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (!lowerAlnum(label.front()) || !lowerAlnum(label.back())) return false;
    for (char c : label) {
      if (!lowerAlnum(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

enum class Tok {
  kIdent,
  kIn,
  kNotIn,
  kEq,
  kDoubleEq,
  kNotEq,
  kBang,
  kGt,
  kLt,
  kLParen,
  kRParen,
  kComma,
  kEnd
};

struct Token {
  Tok kind;
  std::string text;
  std::size_t pos;
};

bool isSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

std::vector<Token> lex(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    std::size_t start = i;
    if (c == '=' && i + 1 < s.size() && s[i + 1] == '=') {
      out.push_back({Tok::kDoubleEq, "==", start});
      i += 2;
    } else if (c == '!' && i + 1 < s.size() && s[i + 1] == '=') {
      out.push_back({Tok::kNotEq, "!=", start});
      i += 2;
    } else if (isSpecial(c)) {
      Tok k = c == '='   ? Tok::kEq
              : c == '!' ? Tok::kBang
              : c == '(' ? Tok::kLParen
              : c == ')' ? Tok::kRParen
              : c == ',' ? Tok::kComma
              : c == '>' ? Tok::kGt
                         : Tok::kLt;
      out.push_back({k, std::string(1, c), start});
      ++i;
    } else {
      while (i < s.size() && !isSpecial(s[i]) && !std::isspace(static_cast<unsigned char>(s[i]))) {
        ++i;
      }
      std::string word(s.substr(start, i - start));
      Tok k = word == "in" ? Tok::kIn : word == "notin" ? Tok::kNotIn : Tok::kIdent;
      out.push_back({k, std::move(word), start});
    }
  }
  out.push_back({Tok::kEnd, "", s.size()});
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text), toks_(lex(text)) {}

  Result<std::vector<LabelSelector::Requirement>> parse() {
    std::vector<LabelSelector::Requirement> reqs;
    if (peek().kind == Tok::kEnd) return reqs;
    for (;;) {
      SKIFF_ASSIGN_OR_RETURN(auto req, requirement());
      reqs.push_back(std::move(req));
      const Token& t = next();
      if (t.kind == Tok::kEnd) break;
      if (t.kind != Tok::kComma) return unexpected(t, "',' or end of selector");
      if (peek().kind == Tok::kEnd) return unexpected(peek(), "identifier");
    }
    return reqs;
  }

 private:
  const Token& peek() const { return toks_[pos_]; }
  const Token& next() { return toks_[pos_ < toks_.size() - 1 ? pos_++ : pos_]; }

  Status unexpected(const Token& t, std::string_view expected) const {
    std::string found = t.kind == Tok::kEnd ? "end of selector" : "'" + t.text + "'";
    return invalidArgument("unable to parse label selector \"" + std::string(text_) + "\": found " +
                           found + " at position " + std::to_string(t.pos) + ", expected " +
                           std::string(expected));
  }

  Result<LabelSelector::Requirement> requirement() {
    using Op = LabelSelector::Op;
    LabelSelector::Requirement req;
    if (peek().kind == Tok::kBang) {
      next();
      const Token& k = next();
      if (k.kind != Tok::kIdent) return unexpected(k, "identifier after '!'");
      SKIFF_RETURN_IF_ERROR(validateLabelKey(k.text));
      req.key = k.text;
      req.op = Op::kDoesNotExist;
      return req;
    }
    const Token& k = next();
    if (k.kind != Tok::kIdent) return unexpected(k, "identifier");
    SKIFF_RETURN_IF_ERROR(validateLabelKey(k.text));
    req.key = k.text;
    const Token& op = peek();
    switch (op.kind) {
      case Tok::kEnd:
      case Tok::kComma:
        req.op = Op::kExists;
        return req;
      case Tok::kEq:
      case Tok::kDoubleEq:
      case Tok::kNotEq: {
        next();
        req.op = op.kind == Tok::kNotEq ? Op::kNotEquals : Op::kEquals;
        // An empty value ("key=") is legal and matches an empty label value.
        if (peek().kind == Tok::kIdent) {
          SKIFF_RETURN_IF_ERROR(validateLabelValue(peek().text));
          req.values.insert(next().text);
        } else if (peek().kind == Tok::kEnd || peek().kind == Tok::kComma) {
          req.values.insert("");
        } else {
          return unexpected(peek(), "value");
        }
        return req;
      }
      case Tok::kGt:
      case Tok::kLt: {
        next();
        req.op = op.kind == Tok::kGt ? Op::kGreaterThan : Op::kLessThan;
        const Token& v = next();
        if (v.kind != Tok::kIdent) return unexpected(v, "integer value");
        long long n = 0;
        auto [ptr, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), n);
        if (ec != std::errc() || ptr != v.text.data() + v.text.size()) {
          return invalidArgument("unable to parse label selector \"" + std::string(text_) +
                                 "\": for '" + op.text + "' the value must be an integer, got '" +
                                 v.text + "'");
        }
        req.values.insert(v.text);
        return req;
      }
      case Tok::kIn:
      case Tok::kNotIn: {
        next();
        req.op = op.kind == Tok::kIn ? Op::kIn : Op::kNotIn;
        const Token& lp = next();
        if (lp.kind != Tok::kLParen) return unexpected(lp, "'('");
        // Values: comma-separated, possibly empty strings ("in (a,,b)" as in Kubernetes).
        bool expectValue = true;
        for (;;) {
          const Token& t = next();
          if (t.kind == Tok::kRParen) {
            if (expectValue && !req.values.empty()) req.values.insert("");
            break;
          }
          if (t.kind == Tok::kComma) {
            if (expectValue) req.values.insert("");
            expectValue = true;
            continue;
          }
          if (t.kind == Tok::kIdent && expectValue) {
            SKIFF_RETURN_IF_ERROR(validateLabelValue(t.text));
            req.values.insert(t.text);
            expectValue = false;
            continue;
          }
          return unexpected(t, expectValue ? "value or ')'" : "',' or ')'");
        }
        if (req.values.empty()) {
          return invalidArgument("unable to parse label selector \"" + std::string(text_) +
                                 "\": for 'in' and 'notin' the set of values must not be empty");
        }
        return req;
      }
      default:
        return unexpected(op, "'=', '==', '!=', 'in', 'notin', '>', '<', ',' or end of selector");
    }
  }

  std::string_view text_;
  std::vector<Token> toks_;
  std::size_t pos_ = 0;
};

void sortRequirements(std::vector<LabelSelector::Requirement>& reqs) {
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const auto& a, const auto& b) { return a.key < b.key; });
}

std::string_view opString(LabelSelector::Op op) {
  switch (op) {
    case LabelSelector::Op::kEquals:
      return "=";
    case LabelSelector::Op::kNotEquals:
      return "!=";
    case LabelSelector::Op::kIn:
      return " in ";
    case LabelSelector::Op::kNotIn:
      return " notin ";
    case LabelSelector::Op::kGreaterThan:
      return ">";
    case LabelSelector::Op::kLessThan:
      return "<";
    default:
      return "";
  }
}

}  // namespace

Status validateLabelKey(std::string_view key) {
  std::string_view name = key;
  auto slash = key.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (!isDnsSubdomain(prefix)) {
      return invalidArgument("invalid label key \"" + std::string(key) +
                             "\": prefix part must be a lowercase RFC 1123 subdomain");
    }
  }
  if (!isQualifiedNamePart(name)) {
    return invalidArgument(
        "invalid label key \"" + std::string(key) +
        "\": name part must be 63 characters or less, consist of alphanumeric characters, '-', "
        "'_' or '.', and start and end with an alphanumeric character");
  }
  return Status::ok();
}

Status validateLabelValue(std::string_view value) {
  if (value.empty()) return Status::ok();
  if (!isQualifiedNamePart(value)) {
    return invalidArgument(
        "invalid label value \"" + std::string(value) +
        "\": must be 63 characters or less, consist of alphanumeric characters, '-', '_' or "
        "'.', and start and end with an alphanumeric character");
  }
  return Status::ok();
}

LabelSelector::LabelSelector(std::vector<Requirement> reqs) : requirements_(std::move(reqs)) {
  sortRequirements(requirements_);
}

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  Parser p(text);
  SKIFF_ASSIGN_OR_RETURN(auto reqs, p.parse());
  return LabelSelector(std::move(reqs));
}

Result<LabelSelector> LabelSelector::fromJson(const nlohmann::json& selector) {
  if (selector.is_null()) return LabelSelector();
  if (!selector.is_object()) return invalidArgument("selector: expected object");
  std::vector<Requirement> reqs;
  if (auto it = selector.find("matchLabels"); it != selector.end() && !it->is_null()) {
    if (!it->is_object()) return invalidArgument("selector.matchLabels: expected object");
    for (const auto& [k, v] : it->items()) {
      if (!v.is_string()) {
        return invalidArgument("selector.matchLabels." + k + ": expected string");
      }
      SKIFF_RETURN_IF_ERROR(validateLabelKey(k).withContext("selector.matchLabels"));
      SKIFF_RETURN_IF_ERROR(
          validateLabelValue(v.get<std::string>()).withContext("selector.matchLabels"));
      reqs.push_back({k, Op::kEquals, {v.get<std::string>()}});
    }
  }
  if (auto it = selector.find("matchExpressions"); it != selector.end() && !it->is_null()) {
    if (!it->is_array()) return invalidArgument("selector.matchExpressions: expected array");
    for (std::size_t i = 0; i < it->size(); ++i) {
      const auto& e = (*it)[i];
      std::string path = "selector.matchExpressions[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("key") || !e["key"].is_string() ||
          !e.contains("operator") || !e["operator"].is_string()) {
        return invalidArgument(path + ": key and operator are required strings");
      }
      Requirement r;
      r.key = e["key"].get<std::string>();
      SKIFF_RETURN_IF_ERROR(validateLabelKey(r.key).withContext(path + ".key"));
      std::string op = e["operator"].get<std::string>();
      if (auto v = e.find("values"); v != e.end() && !v->is_null()) {
        if (!v->is_array()) return invalidArgument(path + ".values: expected array");
        for (const auto& s : *v) {
          if (!s.is_string()) return invalidArgument(path + ".values: expected strings");
          SKIFF_RETURN_IF_ERROR(validateLabelValue(s.get<std::string>()).withContext(path));
          r.values.insert(s.get<std::string>());
        }
      }
      if (op == "In" || op == "NotIn") {
        r.op = op == "In" ? Op::kIn : Op::kNotIn;
        if (r.values.empty()) {
          return invalidArgument(path + ".values: must be specified when operator is " + op);
        }
      } else if (op == "Exists" || op == "DoesNotExist") {
        r.op = op == "Exists" ? Op::kExists : Op::kDoesNotExist;
        if (!r.values.empty()) {
          return invalidArgument(path + ".values: may not be specified when operator is " + op);
        }
      } else {
        return invalidArgument(path + ".operator: not a valid selector operator \"" + op +
                               "\" (want In, NotIn, Exists or DoesNotExist)");
      }
      reqs.push_back(std::move(r));
    }
  }
  return LabelSelector(std::move(reqs));
}

LabelSelector LabelSelector::fromLabels(const Labels& labels) {
  std::vector<Requirement> reqs;
  for (const auto& [k, v] : labels) reqs.push_back({k, Op::kEquals, {v}});
  return LabelSelector(std::move(reqs));
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& r : requirements_) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    switch (r.op) {
      case Op::kEquals:
      case Op::kIn:
        if (!has || !r.values.contains(it->second)) return false;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (has && r.values.contains(it->second)) return false;
        break;
      case Op::kExists:
        if (!has) return false;
        break;
      case Op::kDoesNotExist:
        if (has) return false;
        break;
      case Op::kGreaterThan:
      case Op::kLessThan: {
        if (!has) return false;
        long long lv = 0;
        long long rv = 0;
        const std::string& ls = it->second;
        const std::string& rs = *r.values.begin();
        auto a = std::from_chars(ls.data(), ls.data() + ls.size(), lv);
        auto b = std::from_chars(rs.data(), rs.data() + rs.size(), rv);
        if (a.ec != std::errc() || a.ptr != ls.data() + ls.size() || b.ec != std::errc()) {
          return false;
        }
        if (r.op == Op::kGreaterThan ? !(lv > rv) : !(lv < rv)) return false;
        break;
      }
    }
  }
  return true;
}

std::string LabelSelector::toString() const {
  std::string out;
  for (const auto& r : requirements_) {
    if (!out.empty()) out += ',';
    switch (r.op) {
      case Op::kExists:
        out += r.key;
        break;
      case Op::kDoesNotExist:
        out += "!" + r.key;
        break;
      case Op::kIn:
      case Op::kNotIn: {
        out += r.key;
        out += opString(r.op);
        out += '(';
        bool first = true;
        for (const auto& v : r.values) {
          if (!first) out += ',';
          out += v;
          first = false;
        }
        out += ')';
        break;
      }
      default:
        out += r.key;
        out += opString(r.op);
        out += *r.values.begin();
    }
  }
  return out;
}

}  // namespace skiff::common
