// Incremental HTTP/1.1 response decoder for the agent's HTTP client (http_client.h): bytes go in
// as they arrive from the socket, split anywhere; out come the status, the header fields and the
// body bytes (Content-Length, chunked or delimited by the end of the connection), with interim
// 1xx responses skipped. It is a thin adapter over Boost.Beast's basic_parser; no Beast type
// escapes this file pair.
//
// Threading: one decoder per response, used by one thread. Never blocks.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace skiff::edge_agent {

class HttpResponseDecoder {
 public:
  enum class Progress {
    kNeedMore,  // feed more bytes (or finish() when the peer closed the connection)
    kComplete,  // the final response is complete; later bytes are ignored
    kStopped,   // the body sink returned false
  };
  // Receives body bytes of the final response, in order, after its header is complete (status()
  // and headers() are valid then). Returning false stops decoding (Progress::kStopped).
  using BodySink = std::function<bool(std::string_view)>;

  // headResponse: the response answers a HEAD request (a header only, whatever its
  // Content-Length says). A header (status line + fields) longer than maxHeaderBytes is an error.
  HttpResponseDecoder(bool headResponse, std::size_t maxHeaderBytes, BodySink sink);
  ~HttpResponseDecoder();
  HttpResponseDecoder(const HttpResponseDecoder&) = delete;
  HttpResponseDecoder& operator=(const HttpResponseDecoder&) = delete;

  // Consumes all of data. Unavailable for a malformed response or an oversized header.
  common::Result<Progress> feed(std::string_view data);
  // The peer closed the connection: completes a body delimited by the close; Unavailable when
  // the response is incomplete (premature close).
  common::Result<Progress> finish();

  bool headerComplete() const { return headerComplete_; }
  long status() const { return status_; }
  const std::vector<std::string>& headers() const { return headers_; }  // "Name: value"

 private:
  class Parser;
  common::Result<Progress> consume(std::string_view& input);
  void resetParser();

  bool head_;
  std::size_t maxHeaderBytes_;
  BodySink sink_;
  std::unique_ptr<Parser> parser_;
  std::string pending_;  // bytes the parser could not consume yet (a partial header or chunk line)
  bool headerComplete_ = false;
  bool stopped_ = false;
  bool complete_ = false;
  long status_ = 0;
  std::vector<std::string> headers_;
};

}  // namespace skiff::edge_agent
