// HttpResponseDecoder over Boost.Beast's basic_parser: Beast does the HTTP/1.1 framing (status
// line, fields, Content-Length, chunked, body-until-close); this file feeds it and hands the
// body to the sink without copying.
#include "edge_agent/http_response_decoder.h"

// GCC 12 reports boost::optional inside Beast's parser as maybe-uninitialized when inlining under
// -fsanitize=address,undefined (a false positive in the header, not in this file).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/error.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#pragma GCC diagnostic pop
#include <limits>

namespace skiff::edge_agent {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using common::Result;
using Progress = HttpResponseDecoder::Progress;

class HttpResponseDecoder::Parser : public bhttp::basic_parser<false> {
 public:
  explicit Parser(HttpResponseDecoder& d) : d_(d) {
    eager(true);
    skip(d.head_);
    header_limit(static_cast<std::uint32_t>(d.maxHeaderBytes_));
    // Streams are unbounded; the client caps what it collects. Not boost::none: Beast 1.74
    // compares a Content-Length against an empty optional limit as "exceeded".
    body_limit(std::numeric_limits<std::uint64_t>::max());
  }

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    d_.status_ = code;
    d_.headers_.clear();
  }
  void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    std::string line(name.data(), name.size());
    line += ": ";
    line.append(value.data(), value.size());
    d_.headers_.push_back(std::move(line));
  }
  void on_header_impl(beast::error_code&) override {
    // 1xx responses other than 101 are interim: the final response follows on the connection.
    if (d_.status_ < 100 || d_.status_ >= 200 || d_.status_ == 101) d_.headerComplete_ = true;
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, beast::error_code& ec) override {
    deliver(body, ec);
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code& ec) override {
    deliver(body, ec);
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  void deliver(beast::string_view body, beast::error_code& ec) {
    if (body.empty() || !d_.headerComplete_) return;
    if (!d_.sink_(std::string_view(body.data(), body.size()))) {
      d_.stopped_ = true;
      ec = boost::asio::error::operation_aborted;
    }
  }

  HttpResponseDecoder& d_;
};

HttpResponseDecoder::HttpResponseDecoder(bool headResponse, std::size_t maxHeaderBytes,
                                         BodySink sink)
    : head_(headResponse), maxHeaderBytes_(maxHeaderBytes), sink_(std::move(sink)) {
  resetParser();
}

HttpResponseDecoder::~HttpResponseDecoder() = default;

void HttpResponseDecoder::resetParser() { parser_ = std::make_unique<Parser>(*this); }

Result<Progress> HttpResponseDecoder::consume(std::string_view& input) {
  while (!input.empty()) {
    beast::error_code ec;
    std::size_t n = parser_->put(boost::asio::const_buffer(input.data(), input.size()), ec);
    input.remove_prefix(n);
    if (stopped_) return Progress::kStopped;
    if (ec == bhttp::error::need_more) break;
    if (ec == bhttp::error::header_limit) {
      return common::unavailable("response header exceeds " + std::to_string(maxHeaderBytes_) +
                                 " bytes");
    }
    if (ec) return common::unavailable("malformed HTTP response: " + ec.message());
    if (parser_->is_done()) {
      if (!headerComplete_) {  // an interim 1xx response: parse the next one
        resetParser();
        continue;
      }
      complete_ = true;
      return Progress::kComplete;
    }
    if (n == 0) break;
  }
  // Only a partial header or chunk-size line is ever left over; bound it like the header.
  if (input.size() > maxHeaderBytes_) {
    return common::unavailable(headerComplete_ ? "malformed HTTP response: chunk header too long"
                                               : "response header exceeds " +
                                                     std::to_string(maxHeaderBytes_) + " bytes");
  }
  return Progress::kNeedMore;
}

Result<Progress> HttpResponseDecoder::feed(std::string_view data) {
  if (complete_) return Progress::kComplete;
  if (stopped_) return Progress::kStopped;
  Result<Progress> r = Progress::kNeedMore;
  if (pending_.empty()) {
    std::string_view input = data;
    r = consume(input);
    if (r.isOk() && *r == Progress::kNeedMore) pending_.assign(input);
  } else {
    pending_.append(data);
    std::string_view input = pending_;
    r = consume(input);
    std::size_t left = input.size();
    pending_.erase(0, pending_.size() - left);
  }
  return r;
}

Result<Progress> HttpResponseDecoder::finish() {
  if (complete_) return Progress::kComplete;
  if (stopped_) return Progress::kStopped;
  if (!headerComplete_) {
    return common::unavailable("the connection closed before the response header was complete");
  }
  beast::error_code ec;
  parser_->put_eof(ec);
  if (stopped_) return Progress::kStopped;
  if (ec || !parser_->is_done()) {
    return common::unavailable("the connection closed before the response was complete");
  }
  complete_ = true;
  return Progress::kComplete;
}

}  // namespace skiff::edge_agent
