// EtcdStore: Store over etcd's v3 gRPC API (KV.Range/Txn/Compact and the Watch stream). The
// generated etcd stubs and gRPC stay behind the pimpl so users of etcd_store.h need neither.
// Over 800 lines on purpose: that pimpl (connection, retries, watch streams, compaction) is one
// adapter of one peer (docs/conventions.md #4) and splitting it would expose the stubs.
#include "common/store/etcd/etcd_store.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "common/fs.h"
#include "common/grpc/grpc_status.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace skiff::common::store::etcd {
namespace {

namespace pb = ::etcdserverpb;
using Clock = std::chrono::system_clock;

// ---------------------------------------------------------------------------------------------
// Endpoints and URLs

enum class HostKind { kName, kIpv4, kIpv6 };

struct Endpoint {
  std::string host;  // without brackets
  int port = 0;
  HostKind kind = HostKind::kName;
};

Status badEndpoint(std::string_view ep, std::string_view why) {
  return invalidArgument("etcd endpoint \"" + std::string(ep) + "\": " + std::string(why));
}

Result<Endpoint> parseEndpoint(std::string_view ep) {
  if (ep.empty()) return invalidArgument("etcd endpoint: empty (expected host:port)");
  Endpoint out;
  std::string_view portText;
  if (ep.front() == '[') {
    const auto close = ep.find(']');
    if (close == std::string_view::npos) return badEndpoint(ep, "missing ']' after IPv6 address");
    out.host = std::string(ep.substr(1, close - 1));
    if (close + 1 >= ep.size() || ep[close + 1] != ':') {
      return badEndpoint(ep, "missing port (expected [address]:port)");
    }
    portText = ep.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, out.host.c_str(), &a6) != 1) {
      return badEndpoint(ep, "not an IPv6 address inside [...]");
    }
    out.kind = HostKind::kIpv6;
  } else {
    const auto colon = ep.rfind(':');
    if (colon == std::string_view::npos)
      return badEndpoint(ep, "missing port (expected host:port)");
    out.host = std::string(ep.substr(0, colon));
    portText = ep.substr(colon + 1);
    if (out.host.empty()) return badEndpoint(ep, "empty host");
    if (out.host.find(':') != std::string::npos) {
      return badEndpoint(ep, "IPv6 addresses must be written in brackets, e.g. [::1]:2379");
    }
    for (char c : out.host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_';
      if (!ok) return badEndpoint(ep, "invalid character in host name");
    }
    in_addr a4{};
    out.kind = inet_pton(AF_INET, out.host.c_str(), &a4) == 1 ? HostKind::kIpv4 : HostKind::kName;
  }
  if (portText.empty()) return badEndpoint(ep, "missing port (expected host:port)");
  int port = 0;
  for (char c : portText) {
    if (c < '0' || c > '9' || port > 65535) return badEndpoint(ep, "port must be a number 1-65535");
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return badEndpoint(ep, "port must be a number 1-65535");
  out.port = port;
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// gRPC target: one endpoint goes through the DNS resolver (which also accepts IP literals); a list
// uses the ipv4:/ipv6: static-address resolvers, whose pick_first policy fails over in order.
Result<std::string> grpcTarget(const std::vector<std::string>& endpoints) {
  std::vector<Endpoint> eps;
  for (const auto& e : endpoints) {
    SKIFF_ASSIGN_OR_RETURN(Endpoint ep, parseEndpoint(e));
    eps.push_back(std::move(ep));
  }
  if (eps.size() == 1) {
    const auto& e = eps.front();
    const std::string host = e.kind == HostKind::kIpv6 ? "[" + e.host + "]" : e.host;
    return "dns:///" + host + ":" + std::to_string(e.port);
  }
  const HostKind kind = eps.front().kind;
  const bool sameFamily = std::all_of(eps.begin(), eps.end(), [kind](const Endpoint& e) {
    return e.kind == kind && e.kind != HostKind::kName;
  });
  if (!sameFamily) {
    return invalidArgument(
        "etcd endpoints \"" + joined(endpoints) +
        "\": several endpoints must all be IPv4 or all IPv6 literals (use one DNS name that "
        "resolves to every member instead)");
  }
  std::string target = kind == HostKind::kIpv4 ? "ipv4:" : "ipv6:";
  for (std::size_t i = 0; i < eps.size(); ++i) {
    if (i > 0) target += ",";
    const auto& e = eps[i];
    target +=
        (kind == HostKind::kIpv6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
  }
  return target;
}

// ---------------------------------------------------------------------------------------------
// Keys and errors

// The smallest key greater than every key with this prefix ("\0" = end of the keyspace).
std::string prefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    const auto c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string quoted(std::string_view key) { return "\"" + std::string(key) + "\""; }

// Monotonic max for counters shared between threads.
void raiseTo(std::atomic<std::int64_t>& v, std::int64_t x) {
  std::int64_t cur = v.load();
  while (cur < x && !v.compare_exchange_weak(cur, x)) {
  }
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

Status fromGrpc(const grpc::Status& s, std::string_view what) {
  if (s.ok()) return Status::ok();
  std::string msg = "etcd " + std::string(what) + ": " + s.error_message();
  // etcd: "mvcc: required revision has been compacted" (OUT_OF_RANGE) is the store's Gone.
  if (s.error_code() == grpc::StatusCode::OUT_OF_RANGE &&
      contains(s.error_message(), "compacted")) {
    return gone(std::move(msg));
  }
  return common::grpc_status::fromGrpc(s, std::move(msg));
}

// A watch canceled by etcd carries only a reason string.
Status fromCancelReason(std::string_view reason) {
  std::string msg = "etcd watch canceled: " + std::string(reason.empty() ? "no reason" : reason);
  if (contains(reason, "compacted")) return gone(std::move(msg));
  if (contains(reason, "permission denied")) return permissionDenied(std::move(msg));
  if (contains(reason, "auth")) return unauthenticated(std::move(msg));
  return unavailable(std::move(msg));
}

// ---------------------------------------------------------------------------------------------
// Watch

// Live watches of one store, so closing the store can end them (they may outlive it).
class EtcdWatch;
struct WatchRegistry {
  std::mutex mu;
  bool closed = false;
  std::set<EtcdWatch*> live;
};

class EtcdWatch final : public Watch {
 public:
  EtcdWatch(std::shared_ptr<pb::Watch::Stub> stub, std::shared_ptr<WatchRegistry> registry,
            std::shared_ptr<std::atomic<std::int64_t>> compacted, std::string keyPrefix,
            std::size_t capacity)
      : stub_(std::move(stub)),
        registry_(std::move(registry)),
        compacted_(std::move(compacted)),
        keyPrefix_(std::move(keyPrefix)),
        capacity_(capacity) {}

  ~EtcdWatch() override {
    {
      std::lock_guard<std::mutex> lock(registry_->mu);
      registry_->live.erase(this);
    }
    close(unavailable("etcd watch: closed"));
    if (reader_.joinable()) reader_.join();
  }

  // Opens the stream and waits until etcd confirms the watch (so every write that completes after
  // this returns is delivered) or timeout passes.
  Status start(std::string key, std::string rangeEnd, std::int64_t startRevision,
               std::chrono::milliseconds timeout) {
    {
      std::lock_guard<std::mutex> lock(registry_->mu);
      if (registry_->closed) return unavailable("etcd watch: store closed");
      registry_->live.insert(this);
    }
    ctx_.set_wait_for_ready(true);  // waiting for a connection is bounded by timeout below
    reader_ = std::thread([this, key = std::move(key), rangeEnd = std::move(rangeEnd),
                           startRevision] { run(key, rangeEnd, startRevision); });
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return created_ || terminal_.has_value(); });
    if (created_) return Status::ok();  // a failure right after creation is reported by next()
    if (terminal_) return *terminal_;
    return deadlineExceeded("etcd watch: not established within " +
                            std::to_string(timeout.count()) + " ms");
  }

  Result<std::optional<WatchEvent>> next(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return !queue_.empty() || terminal_.has_value(); });
    if (!queue_.empty()) {
      WatchEvent ev = std::move(queue_.front());
      queue_.pop_front();
      cv_.notify_all();  // the reader may be waiting for room
      return std::optional<WatchEvent>(std::move(ev));
    }
    if (terminal_) return *terminal_;
    return std::optional<WatchEvent>();
  }

  // Ends the watch with why (unless it already ended); events already queued are still delivered.
  // Thread-safe, idempotent.
  void close(Status why) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      if (!terminal_) terminal_ = std::move(why);
    }
    cv_.notify_all();
    ctx_.TryCancel();
  }

 private:
  void run(const std::string& key, const std::string& rangeEnd, std::int64_t startRevision) {
    auto stream = stub_->Watch(&ctx_);
    pb::WatchRequest req;
    auto* create = req.mutable_create_request();
    create->set_key(key);
    create->set_range_end(rangeEnd);
    create->set_prev_kv(true);
    if (startRevision > 0) create->set_start_revision(startRevision);
    std::optional<Status> ended;
    if (stream->Write(req)) {
      pb::WatchResponse resp;
      while (!ended && stream->Read(&resp)) ended = handle(resp);
    }
    // After etcd cancels a watch it keeps the stream open for others: cancel the call, drain it.
    // (Not when the stream failed by itself: Finish() then reports why.)
    if (ended) ctx_.TryCancel();
    pb::WatchResponse ignored;
    while (stream->Read(&ignored)) {
    }
    const grpc::Status s = stream->Finish();
    if (!ended) {
      ended = s.ok() ? unavailable("etcd watch: stream ended by etcd")
                     : fromGrpc(s, "watch").withContext("connection lost");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!terminal_) terminal_ = std::move(*ended);
    }
    cv_.notify_all();
  }

  // Queues resp's events; returns the terminal status if resp ends the watch.
  std::optional<Status> handle(const pb::WatchResponse& resp) {
    if (resp.compact_revision() != 0) {
      raiseTo(*compacted_, resp.compact_revision());
      return gone("etcd watch: history compacted at revision " +
                  std::to_string(resp.compact_revision()) + "; relist");
    }
    if (resp.canceled()) return fromCancelReason(resp.cancel_reason());
    if (resp.created()) {
      std::lock_guard<std::mutex> lock(mu_);
      created_ = true;
      cv_.notify_all();
    }
    for (const auto& ev : resp.events()) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return queue_.size() < capacity_ || closing_; });
      if (closing_) return unavailable("etcd watch: closed");
      queue_.push_back(convert(ev));
      cv_.notify_all();
    }
    return std::nullopt;
  }

  std::string stripPrefix(const std::string& key) const {
    return key.compare(0, keyPrefix_.size(), keyPrefix_) == 0 ? key.substr(keyPrefix_.size()) : key;
  }

  KeyValue toKv(const mvccpb::KeyValue& kv) const {
    return KeyValue{stripPrefix(kv.key()), kv.value(), kv.create_revision(), kv.mod_revision()};
  }

  WatchEvent convert(const mvccpb::Event& ev) const {
    WatchEvent out;
    if (ev.has_prev_kv()) out.prevKv = toKv(ev.prev_kv());
    if (ev.type() == mvccpb::Event::DELETE) {
      // etcd's delete event has only the key and the delete's revision; the contract wants the
      // value as it was, which prev_kv carries.
      out.type = WatchEvent::Type::kDelete;
      out.kv.key = stripPrefix(ev.kv().key());
      out.kv.modRevision = ev.kv().mod_revision();
      if (out.prevKv) {
        out.kv.value = out.prevKv->value;
        out.kv.createRevision = out.prevKv->createRevision;
      }
    } else {
      out.type = WatchEvent::Type::kPut;
      out.kv = toKv(ev.kv());
    }
    return out;
  }

  std::shared_ptr<pb::Watch::Stub> stub_;
  std::shared_ptr<WatchRegistry> registry_;
  std::shared_ptr<std::atomic<std::int64_t>> compacted_;
  const std::string keyPrefix_;
  const std::size_t capacity_;
  grpc::ClientContext ctx_;

  std::mutex mu_;
  std::condition_variable cv_;  // queue, created_, terminal_, closing_ changed
  std::deque<WatchEvent> queue_;
  std::optional<Status> terminal_;
  bool created_ = false;
  bool closing_ = false;
  std::thread reader_;  // last: started after everything above exists
};

}  // namespace

// -----------------------------------------------------------------------------------------------
// URL parsing

Result<EtcdStoreOptions> parseEtcdUrl(std::string_view url) {
  const auto bad = [url](std::string_view why) {
    return invalidArgument("etcd URL \"" + std::string(url) + "\": " + std::string(why));
  };
  EtcdStoreOptions opts;
  std::string_view rest;
  if (url.starts_with("etcd://")) {
    rest = url.substr(7);
  } else if (url.starts_with("etcds://")) {
    rest = url.substr(8);
    opts.tls = EtcdTlsOptions{};
  } else {
    return bad("scheme must be etcd:// or etcds:// (e.g. etcd://127.0.0.1:2379)");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return bad("query strings and fragments are not supported");
  }
  const auto slash = rest.find('/');
  const std::string_view hosts = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (hosts.find('@') != std::string_view::npos) {
    return bad("credentials in the URL are not supported");
  }
  if (hosts.empty()) return bad("no endpoints (expected etcd://host:port[,host:port...])");
  std::size_t pos = 0;
  while (true) {
    const auto comma = hosts.find(',', pos);
    const std::string_view ep = hosts.substr(pos, comma - pos);
    if (ep.empty()) return bad("empty endpoint in the host list");
    auto parsed = parseEndpoint(ep);
    if (!parsed) return bad(parsed.status().message());
    opts.endpoints.emplace_back(ep);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (!path.empty() && path != "/") {
    // Always a whole path segment: "/a" must not also match the keys of "/ab".
    opts.keyPrefix = std::string(path);
    if (opts.keyPrefix.back() != '/') opts.keyPrefix.push_back('/');
  }
  return opts;
}

// -----------------------------------------------------------------------------------------------
// EtcdStore

struct EtcdStore::Impl {
  EtcdStoreOptions opts;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::shared_ptr<pb::Watch::Stub> watchStub;
  std::shared_ptr<WatchRegistry> watches = std::make_shared<WatchRegistry>();
  // Highest compaction revision seen by this client; shared with watches, which learn it from
  // etcd's compaction notices.
  std::shared_ptr<std::atomic<std::int64_t>> compacted =
      std::make_shared<std::atomic<std::int64_t>>(0);

  void noteCompacted(std::int64_t revision) const { raiseTo(*compacted, revision); }

  std::string full(std::string_view key) const { return opts.keyPrefix + std::string(key); }

  std::string stripPrefix(const std::string& key) const {
    const auto& p = opts.keyPrefix;
    return key.compare(0, p.size(), p) == 0 ? key.substr(p.size()) : key;
  }

  KeyValue toKv(const mvccpb::KeyValue& kv) const {
    return KeyValue{stripPrefix(kv.key()), kv.value(), kv.create_revision(), kv.mod_revision()};
  }

  // A key readable under any ACL that allows the prefix; etcd rejects the empty key.
  std::string probeKey() const {
    return opts.keyPrefix.empty() ? std::string(1, '\0') : opts.keyPrefix;
  }

  // Runs one unary RPC with the per-request deadline. Like etcd's own client it waits for a
  // connection within that deadline (wait_for_ready), so a brief etcd restart or leader change
  // is absorbed instead of failing the request; running out of time while still not connected is
  // Unavailable (the request was never sent), not DeadlineExceeded.
  Status call(std::string_view what,
              const std::function<grpc::Status(grpc::ClientContext*)>& rpc) const {
    grpc::ClientContext ctx;
    ctx.set_deadline(Clock::now() + opts.requestTimeout);
    ctx.set_wait_for_ready(true);
    const grpc::Status s = rpc(&ctx);
    if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && !connected()) {
      return unavailable("etcd " + std::string(what) + ": no connection to " +
                         joined(opts.endpoints) + " within " +
                         std::to_string(opts.requestTimeout.count()) + " ms");
    }
    return fromGrpc(s, what);
  }

  bool connected() const { return channel->GetState(false) == GRPC_CHANNEL_READY; }

  Status range(const pb::RangeRequest& req, pb::RangeResponse* resp, std::string_view what) const {
    return call(what, [&](grpc::ClientContext* ctx) { return kv->Range(ctx, req, resp); });
  }

  Status txn(const pb::TxnRequest& req, pb::TxnResponse* resp, std::string_view what) const {
    return call(what, [&](grpc::ClientContext* ctx) { return kv->Txn(ctx, req, resp); });
  }

  // Whether a read at revision succeeds (false: compacted away).
  Result<bool> readableAt(std::int64_t revision) const {
    pb::RangeRequest req;
    req.set_key(probeKey());
    req.set_count_only(true);
    req.set_revision(revision);
    pb::RangeResponse resp;
    Status s = range(req, &resp, "range");
    if (s.code() == StatusCode::kGone) return false;
    SKIFF_RETURN_IF_ERROR(s);
    return true;
  }

  // Compare for update/remove: mod_revision == expected, or "exists" when expected is 0.
  static void guard(pb::TxnRequest& req, const std::string& key, std::int64_t expected) {
    auto* cmp = req.add_compare();
    cmp->set_key(key);
    if (expected > 0) {
      cmp->set_target(pb::Compare::MOD);
      cmp->set_result(pb::Compare::EQUAL);
      cmp->set_mod_revision(expected);
    } else {
      cmp->set_target(pb::Compare::VERSION);
      cmp->set_result(pb::Compare::GREATER);
      cmp->set_version(0);
    }
    req.add_failure()->mutable_request_range()->set_key(key);
  }

  // The else branch of guard() read the key: absent -> NotFound, else Conflict.
  static Status guardFailed(const pb::TxnResponse& resp, std::string_view key,
                            std::int64_t expected) {
    if (resp.responses_size() != 1 || !resp.responses(0).has_response_range()) {
      return internalError("etcd txn: unexpected failure response for " + quoted(key));
    }
    const auto& r = resp.responses(0).response_range();
    if (r.kvs_size() == 0) return notFound(quoted(key) + " not found");
    return conflict(quoted(key) + " was modified: modRevision is " +
                    std::to_string(r.kvs(0).mod_revision()) + ", expected " +
                    std::to_string(expected));
  }
};

EtcdStore::EtcdStore(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

EtcdStore::~EtcdStore() {
  std::lock_guard<std::mutex> lock(impl_->watches->mu);
  impl_->watches->closed = true;
  for (EtcdWatch* w : impl_->watches->live) w->close(unavailable("etcd watch: store closed"));
}

const EtcdStoreOptions& EtcdStore::options() const { return impl_->opts; }

Result<std::unique_ptr<EtcdStore>> EtcdStore::connect(const EtcdStoreOptions& opts) {
  if (opts.endpoints.empty()) return invalidArgument("etcd: no endpoints");
  if (opts.dialTimeout.count() <= 0 || opts.requestTimeout.count() <= 0) {
    return invalidArgument("etcd: dialTimeout and requestTimeout must be positive");
  }
  if (opts.watchQueueCapacity == 0) return invalidArgument("etcd: watchQueueCapacity must be > 0");
  SKIFF_ASSIGN_OR_RETURN(std::string target, grpcTarget(opts.endpoints));

  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (opts.tls) {
    const EtcdTlsOptions& t = *opts.tls;
    if (t.certFile.empty() != t.keyFile.empty()) {
      return invalidArgument("etcd TLS: certFile and keyFile must be set together");
    }
    grpc::SslCredentialsOptions ssl;
    const auto load = [](const std::string& path, std::string_view what,
                         std::string* out) -> Status {
      if (path.empty()) return Status::ok();
      auto content = readFile(path);
      if (!content) {
        return invalidArgument("etcd TLS " + std::string(what) + " " + path + ": " +
                               content.status().message());
      }
      *out = std::move(content).value();
      return Status::ok();
    };
    SKIFF_RETURN_IF_ERROR(load(t.caFile, "CA file", &ssl.pem_root_certs));
    SKIFF_RETURN_IF_ERROR(load(t.certFile, "certificate file", &ssl.pem_cert_chain));
    SKIFF_RETURN_IF_ERROR(load(t.keyFile, "key file", &ssl.pem_private_key));
    creds = grpc::SslCredentials(ssl);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(INT_MAX);  // big lists; etcd's own client does the same
  // Reconnect quickly after an etcd restart instead of gRPC's default 1 s .. 120 s backoff.
  // (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at its default: it is also the connect timeout.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Detect a silently dead peer under an idle watch (etcd allows pings every >= 5 s).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Each store owns its connections: one store's backoff never delays another's.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);

  auto impl = std::make_shared<Impl>();
  impl->opts = opts;
  impl->channel = grpc::CreateCustomChannel(target, creds, args);
  impl->kv = pb::KV::NewStub(impl->channel);
  impl->watchStub = pb::Watch::NewStub(impl->channel);

  const std::string where = "etcd at " + joined(opts.endpoints);
  if (!impl->channel->WaitForConnected(Clock::now() + opts.dialTimeout)) {
    // One fail-fast RPC turns "not connected" into gRPC's reason (refused, TLS handshake, …).
    grpc::ClientContext ctx;
    ctx.set_deadline(Clock::now() + std::chrono::seconds(1));
    pb::RangeRequest req;
    req.set_key(impl->probeKey());
    req.set_count_only(true);
    pb::RangeResponse resp;
    const grpc::Status s = impl->kv->Range(&ctx, req, &resp);
    return unavailable(where + ": not reachable within " +
                       std::to_string(opts.dialTimeout.count()) + " ms" +
                       (s.ok() ? std::string() : ": " + s.error_message()));
  }
  std::unique_ptr<EtcdStore> store(new EtcdStore(std::move(impl)));
  // Checks that this is an etcd v3 that serves us, and seeds compactedRevision().
  Status probe = store->refreshCompactedRevision().status();
  if (!probe.isOk()) return probe.withContext(where);
  return store;
}

Result<KeyValue> EtcdStore::get(std::string_view key) {
  pb::RangeRequest req;
  req.set_key(impl_->full(key));
  pb::RangeResponse resp;
  SKIFF_RETURN_IF_ERROR(impl_->range(req, &resp, "get"));
  if (resp.kvs_size() == 0) return notFound(quoted(key) + " not found");
  return impl_->toKv(resp.kvs(0));
}

Result<ListResult> EtcdStore::list(std::string_view prefix, const ListOptions& opts) {
  if (opts.revision < 0) return invalidArgument("list: negative revision");
  std::string start = impl_->full(prefix);
  const std::string end = prefixEnd(start);
  if (!opts.startAfter.empty()) {
    std::string after = impl_->full(opts.startAfter);
    after.push_back('\0');  // the smallest key greater than startAfter
    start = std::max(start, after);
  }
  pb::RangeRequest req;
  req.set_key(start.empty() ? std::string(1, '\0') : start);
  req.set_range_end(end);
  if (opts.limit > 0) req.set_limit(static_cast<std::int64_t>(opts.limit));
  req.set_revision(opts.revision);
  pb::RangeResponse resp;
  SKIFF_RETURN_IF_ERROR(impl_->range(req, &resp, "list"));
  ListResult out;
  out.items.reserve(static_cast<std::size_t>(resp.kvs_size()));
  for (const auto& kv : resp.kvs()) out.items.push_back(impl_->toKv(kv));
  out.more = resp.more();
  // header.revision is etcd's current revision; a snapshot read reflects the one asked for.
  out.revision = opts.revision > 0 ? opts.revision : resp.header().revision();
  return out;
}

namespace {
// Writes need a key: the empty one would address the store's prefix itself (the SQLite store
// refuses it the same way).
Status checkKey(std::string_view key) {
  return key.empty() ? invalidArgument("key is empty") : Status::ok();
}
}  // namespace

Result<std::int64_t> EtcdStore::create(std::string_view key, std::string_view value) {
  SKIFF_RETURN_IF_ERROR(checkKey(key));
  const std::string k = impl_->full(key);
  pb::TxnRequest req;
  auto* cmp = req.add_compare();
  cmp->set_key(k);
  cmp->set_target(pb::Compare::CREATE);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_create_revision(0);
  auto* put = req.add_success()->mutable_request_put();
  put->set_key(k);
  put->set_value(std::string(value));
  pb::TxnResponse resp;
  SKIFF_RETURN_IF_ERROR(impl_->txn(req, &resp, "create"));
  if (!resp.succeeded()) return alreadyExists(quoted(key) + " already exists");
  return resp.header().revision();
}

Result<std::int64_t> EtcdStore::update(std::string_view key, std::string_view value,
                                       std::int64_t expectedModRevision) {
  if (expectedModRevision < 0) return invalidArgument("update: negative expectedModRevision");
  SKIFF_RETURN_IF_ERROR(checkKey(key));
  const std::string k = impl_->full(key);
  pb::TxnRequest req;
  Impl::guard(req, k, expectedModRevision);
  auto* put = req.add_success()->mutable_request_put();
  put->set_key(k);
  put->set_value(std::string(value));
  pb::TxnResponse resp;
  SKIFF_RETURN_IF_ERROR(impl_->txn(req, &resp, "update"));
  if (!resp.succeeded()) return Impl::guardFailed(resp, key, expectedModRevision);
  return resp.header().revision();
}

Result<KeyValue> EtcdStore::remove(std::string_view key, std::int64_t expectedModRevision) {
  if (expectedModRevision < 0) return invalidArgument("remove: negative expectedModRevision");
  SKIFF_RETURN_IF_ERROR(checkKey(key));
  const std::string k = impl_->full(key);
  pb::TxnRequest req;
  Impl::guard(req, k, expectedModRevision);
  auto* del = req.add_success()->mutable_request_delete_range();
  del->set_key(k);
  del->set_prev_kv(true);
  pb::TxnResponse resp;
  SKIFF_RETURN_IF_ERROR(impl_->txn(req, &resp, "remove"));
  if (!resp.succeeded()) return Impl::guardFailed(resp, key, expectedModRevision);
  if (resp.responses_size() != 1 ||
      resp.responses(0).response_delete_range().prev_kvs_size() != 1) {
    return internalError("etcd remove: no previous value returned for " + quoted(key));
  }
  KeyValue out = impl_->toKv(resp.responses(0).response_delete_range().prev_kvs(0));
  out.modRevision = resp.header().revision();
  return out;
}

std::vector<Status> EtcdStore::putMany(const std::vector<Put>& writes) {
  // etcd's defaults: --max-txn-ops 128, --max-request-bytes 1.5 MiB.
  constexpr int kMaxTxnOps = 128;
  constexpr std::size_t kMaxTxnBytes = 1024 * 1024;
  std::set<std::string_view> keys;
  for (const auto& w : writes) {
    if (!keys.insert(w.key).second) return Store::putMany(writes);
  }
  std::vector<Status> out(writes.size());
  pb::TxnRequest req;
  std::vector<std::size_t> in;  // indexes of the writes in req
  std::size_t bytes = 0;
  auto commit = [&] {
    if (in.empty()) return;
    pb::TxnResponse resp;
    Status s = impl_->txn(req, &resp, "putMany");
    for (std::size_t i : in) out[i] = s;
    req.Clear();
    in.clear();
    bytes = 0;
  };
  for (std::size_t i = 0; i < writes.size(); ++i) {
    const Put& w = writes[i];
    if (Status k = checkKey(w.key); !k.isOk()) {
      out[i] = k;
      continue;
    }
    std::size_t size = w.key.size() + (w.value ? w.value->size() : 0);
    if (req.success_size() == kMaxTxnOps || (!in.empty() && bytes + size > kMaxTxnBytes)) commit();
    auto* op = req.add_success();
    if (w.value) {
      auto* put = op->mutable_request_put();
      put->set_key(impl_->full(w.key));
      put->set_value(*w.value);
    } else {
      op->mutable_request_delete_range()->set_key(impl_->full(w.key));
    }
    in.push_back(i);
    bytes += size;
  }
  commit();
  return out;
}

Result<std::unique_ptr<Watch>> EtcdStore::watch(std::string_view prefix,
                                                std::int64_t fromRevision) {
  if (fromRevision < 0) return invalidArgument("watch: negative fromRevision");
  const std::string start = impl_->full(prefix);
  if (fromRevision > 0) {
    // etcd accepts a watch from a compacted revision and only cancels it a moment later; one read
    // at the first revision the watch needs (compacted iff the watch would be) reports Gone now.
    pb::RangeRequest req;
    req.set_key(impl_->probeKey());
    req.set_count_only(true);
    req.set_revision(fromRevision + 1);
    pb::RangeResponse resp;
    Status s = impl_->range(req, &resp, "watch");
    if (s.code() == StatusCode::kGone) {
      return gone("etcd watch from revision " + std::to_string(fromRevision) +
                  ": history compacted; relist");
    }
    // InvalidArgument here is "future revision": fromRevision is the current one, or newer and
    // the watch waits for it.
    if (!s.isOk() && s.code() != StatusCode::kInvalidArgument) return s;
  }
  auto w = std::make_unique<EtcdWatch>(impl_->watchStub, impl_->watches, impl_->compacted,
                                       impl_->opts.keyPrefix, impl_->opts.watchQueueCapacity);
  Status started = w->start(start.empty() ? std::string(1, '\0') : start, prefixEnd(start),
                            fromRevision > 0 ? fromRevision + 1 : 0, impl_->opts.requestTimeout);
  if (started.code() == StatusCode::kDeadlineExceeded && !impl_->connected()) {
    return unavailable("etcd watch: no connection to " + joined(impl_->opts.endpoints) +
                       " within " + std::to_string(impl_->opts.requestTimeout.count()) + " ms");
  }
  SKIFF_RETURN_IF_ERROR(started);
  return std::unique_ptr<Watch>(std::move(w));
}

Result<std::int64_t> EtcdStore::currentRevision() {
  pb::RangeRequest req;
  req.set_key(impl_->probeKey());
  req.set_count_only(true);
  pb::RangeResponse resp;
  SKIFF_RETURN_IF_ERROR(impl_->range(req, &resp, "revision"));
  return resp.header().revision();
}

Status EtcdStore::compact(std::int64_t revision) {
  if (revision <= 0) return invalidArgument("compact: revision must be positive");
  pb::CompactionRequest req;
  req.set_revision(revision);
  req.set_physical(true);
  pb::CompactionResponse resp;
  Status s = impl_->call(
      "compact", [&](grpc::ClientContext* ctx) { return impl_->kv->Compact(ctx, req, &resp); });
  if (!s.isOk() && s.code() != StatusCode::kGone) return s;  // Gone: already compacted past it
  impl_->noteCompacted(revision);
  return Status::ok();
}

std::int64_t EtcdStore::compactedRevision() { return impl_->compacted->load(); }

Result<std::int64_t> EtcdStore::refreshCompactedRevision() {
  // Reads at r fail iff r < compacted revision C: find the smallest readable r >= what is known.
  const std::int64_t known = impl_->compacted->load();
  SKIFF_ASSIGN_OR_RETURN(std::int64_t hi, currentRevision());
  std::int64_t lo = std::max<std::int64_t>(known, 1);
  if (lo >= hi) return known;
  SKIFF_ASSIGN_OR_RETURN(bool loReadable, impl_->readableAt(lo));
  if (loReadable) return known;
  while (hi - lo > 1) {  // invariant: lo unreadable, hi readable
    const std::int64_t mid = lo + (hi - lo) / 2;
    SKIFF_ASSIGN_OR_RETURN(bool readable, impl_->readableAt(mid));
    (readable ? hi : lo) = mid;
  }
  impl_->noteCompacted(hi);
  return impl_->compacted->load();
}

}  // namespace skiff::common::store::etcd
