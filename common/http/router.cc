// Route patterns (see router.h).
#include "common/http/router.h"

namespace skiff::common::http {

std::vector<std::string> pathSegments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < path.size()) {
    if (path[pos] == '/') {
      ++pos;
      continue;
    }
    auto next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    out.emplace_back(path.substr(pos, next - pos));
    pos = next;
  }
  return out;
}

RoutePattern::RoutePattern(std::string_view pattern) {
  for (auto& s : pathSegments(pattern)) {
    Part p;
    if (s.size() >= 2 && s.front() == '{' && s.back() == '}') {
      p.param = true;
      p.text = s.substr(1, s.size() - 2);
      if (p.text.ends_with("...")) {
        p.rest = true;
        p.text.resize(p.text.size() - 3);
      }
    } else {
      p.text = std::move(s);
    }
    parts_.push_back(std::move(p));
  }
  restAt_ = parts_.size();
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    if (parts_[i].rest) {
      restAt_ = i;
      break;
    }
  }
}

bool RoutePattern::matchFixed(const std::vector<std::string>& segments, std::size_t from,
                              std::size_t partFrom, std::size_t count, RouteParams& params) const {
  for (std::size_t i = 0; i < count; ++i) {
    const Part& p = parts_[partFrom + i];
    const std::string& s = segments[from + i];
    if (p.param) {
      params[p.text] = s;
    } else if (p.text != s) {
      return false;
    }
  }
  return true;
}

bool RoutePattern::match(const std::vector<std::string>& segments, RouteParams& params) const {
  if (restAt_ == parts_.size()) {
    return segments.size() == parts_.size() && matchFixed(segments, 0, 0, parts_.size(), params);
  }
  const std::size_t after = parts_.size() - restAt_ - 1;  // parts after {name...}
  if (segments.size() < restAt_ + 1 + after) return false;
  const std::size_t restEnd = segments.size() - after;
  if (!matchFixed(segments, 0, 0, restAt_, params) ||
      !matchFixed(segments, restEnd, restAt_ + 1, after, params)) {
    return false;
  }
  std::string rest;
  for (std::size_t i = restAt_; i < restEnd; ++i) rest += (rest.empty() ? "" : "/") + segments[i];
  params[parts_[restAt_].text] = std::move(rest);
  return true;
}

}  // namespace skiff::common::http
