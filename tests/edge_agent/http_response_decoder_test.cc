// HttpResponseDecoder: HTTP/1.1 framing fed in arbitrary pieces (every split point, byte by
// byte), interim responses, close-delimited bodies, premature closes and limits.
#include "edge_agent/http_response_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace skiff::edge_agent {
namespace {

using Progress = HttpResponseDecoder::Progress;

struct Decoded {
  common::Status status;  // first error, if any
  Progress progress = Progress::kNeedMore;
  long code = 0;
  std::vector<std::string> headers;
  std::string body;
};

// Feeds `pieces` in order, then reports the end of the connection if closeAtEnd.
Decoded decode(const std::vector<std::string>& pieces, bool closeAtEnd, bool head = false,
               std::size_t maxHeader = 64 * 1024) {
  Decoded out;
  HttpResponseDecoder d(head, maxHeader, [&](std::string_view b) {
    EXPECT_TRUE(d.headerComplete());
    out.body.append(b);
    return true;
  });
  for (const auto& p : pieces) {
    auto r = d.feed(p);
    if (!r.isOk()) {
      out.status = r.status();
      return out;
    }
    out.progress = *r;
  }
  if (closeAtEnd) {
    auto r = d.finish();
    if (!r.isOk()) {
      out.status = r.status();
      return out;
    }
    out.progress = *r;
  }
  out.code = d.status();
  out.headers = d.headers();
  return out;
}

std::vector<std::string> bytes(const std::string& s) {
  std::vector<std::string> out;
  for (char c : s) out.emplace_back(1, c);
  return out;
}

const std::string kChunked =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/vnd.docker.multiplexed-stream\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5\r\nhello\r\n"
    "1;ext=1\r\n \r\n"
    "A\r\n0123456789\r\n"
    "0\r\n"
    "\r\n";
const std::string kChunkedBody = "hello 0123456789";

TEST(HttpResponseDecoderTest, ChunkedBodySplitAtEveryBoundary) {
  for (std::size_t i = 0; i <= kChunked.size(); ++i) {
    SCOPED_TRACE("split at " + std::to_string(i));
    auto d = decode({kChunked.substr(0, i), kChunked.substr(i)}, false);
    ASSERT_TRUE(d.status.isOk()) << d.status;
    EXPECT_EQ(d.progress, Progress::kComplete);
    EXPECT_EQ(d.code, 200);
    EXPECT_EQ(d.body, kChunkedBody);
    EXPECT_EQ(d.headers.size(), 2u);
  }
  // Every boundary at once.
  auto d = decode(bytes(kChunked), false);
  ASSERT_TRUE(d.status.isOk()) << d.status;
  EXPECT_EQ(d.progress, Progress::kComplete);
  EXPECT_EQ(d.body, kChunkedBody);
}

TEST(HttpResponseDecoderTest, ChunkedBodySplitAtEveryPairOfBoundaries) {
  for (std::size_t i = 0; i <= kChunked.size(); ++i) {
    for (std::size_t j = i; j <= kChunked.size(); ++j) {
      auto d =
          decode({kChunked.substr(0, i), kChunked.substr(i, j - i), kChunked.substr(j)}, false);
      ASSERT_TRUE(d.status.isOk()) << i << "/" << j << ": " << d.status;
      ASSERT_EQ(d.body, kChunkedBody) << i << "/" << j;
      ASSERT_EQ(d.progress, Progress::kComplete) << i << "/" << j;
    }
  }
}

TEST(HttpResponseDecoderTest, ContentLengthBodyAndHeaders) {
  std::string r =
      "HTTP/1.1 404 Not Found\r\nContent-Length: 11\r\nApi-Version: 1.41\r\n\r\nno such box"
      "trailing garbage is ignored";
  for (std::size_t i = 0; i <= r.size(); ++i) {
    auto d = decode({r.substr(0, i), r.substr(i)}, false);
    ASSERT_TRUE(d.status.isOk()) << i << ": " << d.status;
    EXPECT_EQ(d.progress, Progress::kComplete);
    EXPECT_EQ(d.code, 404);
    EXPECT_EQ(d.body, "no such box");
    EXPECT_EQ(d.headers, (std::vector<std::string>{"Content-Length: 11", "Api-Version: 1.41"}));
  }
}

TEST(HttpResponseDecoderTest, InterimResponsesAreSkipped) {
  std::string r =
      "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  auto d = decode(bytes(r), false);
  ASSERT_TRUE(d.status.isOk()) << d.status;
  EXPECT_EQ(d.progress, Progress::kComplete);
  EXPECT_EQ(d.code, 201);
  EXPECT_EQ(d.body, "ok");
  EXPECT_EQ(d.headers, std::vector<std::string>{"Content-Length: 2"});
}

TEST(HttpResponseDecoderTest, BodyDelimitedByTheCloseCompletesOnFinish) {
  // Docker's raw exec/attach stream: no length, no chunking, ends when the engine closes.
  std::string r = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n";
  auto d = decode({r, "abc", "def"}, false);
  ASSERT_TRUE(d.status.isOk()) << d.status;
  EXPECT_EQ(d.progress, Progress::kNeedMore);
  d = decode({r, "abc", "def"}, true);
  ASSERT_TRUE(d.status.isOk()) << d.status;
  EXPECT_EQ(d.progress, Progress::kComplete);
  EXPECT_EQ(d.body, "abcdef");
}

TEST(HttpResponseDecoderTest, PrematureCloseIsUnavailable) {
  const std::vector<std::vector<std::string>> cases = {
      {},                                                                 // nothing at all
      {"HTTP/1.1 200 OK\r\nContent-Le"},                                  // inside the header
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"},             // inside a sized body
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"},  // inside a chunk
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},  // no last chunk
      {"HTTP/1.1 100 Continue\r\n\r\n"},  // only an interim response
  };
  for (const auto& pieces : cases) {
    auto d = decode(pieces, true);
    EXPECT_EQ(d.status.code(), common::StatusCode::kUnavailable)
        << (pieces.empty() ? "" : pieces[0]) << ": " << d.status;
    EXPECT_NE(d.status.message().find("closed before"), std::string::npos) << d.status;
  }
}

TEST(HttpResponseDecoderTest, OversizeHeaderIsRejectedWhetherWholeOrInPieces) {
  std::string big = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(5000, 'x') + "\r\n\r\n";
  auto d = decode({big}, false, false, 4096);
  EXPECT_EQ(d.status.code(), common::StatusCode::kUnavailable) << d.status;
  EXPECT_NE(d.status.message().find("exceeds 4096 bytes"), std::string::npos) << d.status;
  std::vector<std::string> pieces;
  for (std::size_t i = 0; i < big.size(); i += 100) pieces.push_back(big.substr(i, 100));
  d = decode(pieces, false, false, 4096);
  EXPECT_EQ(d.status.code(), common::StatusCode::kUnavailable) << d.status;
  // A header just under the limit is fine.
  std::string fits = "HTTP/1.1 204 No Content\r\nX-Ok: " + std::string(3000, 'y') + "\r\n\r\n";
  d = decode({fits}, false, false, 4096);
  ASSERT_TRUE(d.status.isOk()) << d.status;
  EXPECT_EQ(d.code, 204);
  EXPECT_EQ(d.progress, Progress::kComplete);
}

TEST(HttpResponseDecoderTest, EndlessChunkSizeLineIsBounded) {
  std::vector<std::string> pieces = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;"};
  for (int i = 0; i < 100; ++i) pieces.push_back(std::string(100, 'e'));
  auto d = decode(pieces, false, false, 4096);
  EXPECT_EQ(d.status.code(), common::StatusCode::kUnavailable) << d.status;
}

TEST(HttpResponseDecoderTest, MalformedResponsesAreUnavailable) {
  for (const std::string r :
       {"SMTP ready\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"}) {
    auto d = decode({r}, false);
    EXPECT_EQ(d.status.code(), common::StatusCode::kUnavailable) << r << d.status;
    EXPECT_NE(d.status.message().find("malformed"), std::string::npos) << d.status;
  }
}

TEST(HttpResponseDecoderTest, HeadAndNoContentResponsesHaveNoBody) {
  auto d = decode({"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"}, false, /*head=*/true);
  ASSERT_TRUE(d.status.isOk()) << d.status;
  EXPECT_EQ(d.progress, Progress::kComplete);
  EXPECT_EQ(d.body, "");
  d = decode({"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"}, false);
  ASSERT_TRUE(d.status.isOk()) << d.status;
  EXPECT_EQ(d.progress, Progress::kComplete);
}

TEST(HttpResponseDecoderTest, SinkStopsTheDecoder) {
  int calls = 0;
  HttpResponseDecoder d(false, 4096, [&](std::string_view) {
    ++calls;
    return false;
  });
  auto r = d.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n");
  ASSERT_TRUE(r.isOk()) << r.status();
  EXPECT_EQ(*r, Progress::kStopped);
  EXPECT_EQ(calls, 1);
  r = d.feed("3\r\nghi\r\n");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(*r, Progress::kStopped);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(d.status(), 200);
}

}  // namespace
}  // namespace skiff::edge_agent
