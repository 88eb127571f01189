// EtcdStore: the Store seam (common/store/store.h) on an etcd v3 cluster over gRPC, for
// deployments that keep control-plane state in an existing etcd instead of SQLite.
//
// Mapping (the Store model is etcd's, so it is nearly one to one):
// - Store revisions ARE etcd revisions (header.revision, create_revision, mod_revision). etcd
//   starts at 1 and increments once per write transaction. When several Skiff instances share
//   one etcd (different keyPrefix), each sees the others' writes as gaps in its revisions:
//   revisions stay strictly increasing, but are not dense.
// - Every key is stored as keyPrefix + key; keys returned by this class never carry the prefix,
//   and lists and watches never leave it.
// - create / update / remove are single etcd transactions: compare (create_revision == 0,
//   mod_revision == expected, or version > 0 for unconditional writes), then put / delete; the
//   else branch reads the key so NotFound and Conflict are told apart without a second round trip.
// - list is one Range (limit + revision for paging through one snapshot); a compacted revision is
//   Gone, a future one InvalidArgument.
// - Each Watch is one gRPC Watch stream with prev_kv, read by a dedicated thread into a bounded
//   queue. A full queue stops reading (gRPC flow control pushes back on etcd, no event is dropped).
//   A compacted start revision is Gone. A lost connection (etcd restart, network) ends the watch
//   with Unavailable: it does NOT resume by itself; the consumer re-watches from the last revision
//   it saw (and relists on Gone).
// - Compaction (the optional Compactor capability) is etcd's KV.Compact, physical, so it has taken
//   effect when compact() returns.
//
// Outages: like etcd's own client, each request waits for a connection within its deadline
// (requestTimeout), so an etcd restart or leader election shorter than that is absorbed; a request
// still unconnected at its deadline fails with Unavailable (it was never sent). The channel
// reconnects in the background with a 100 ms .. 2 s backoff.
//
// Errors: gRPC UNAVAILABLE / CANCELLED -> Unavailable, DEADLINE_EXCEEDED -> DeadlineExceeded (a
// write that fails with either may or may not have been applied), etcd "revision has been
// compacted" -> Gone, "future revision" -> InvalidArgument, auth errors -> Unauthenticated /
// PermissionDenied, RESOURCE_EXHAUSTED (e.g. etcd's space quota) -> ResourceExhausted, anything
// else Internal.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/store/store.h"

namespace skiff::common::store::etcd {

struct EtcdTlsOptions {
  std::string caFile;    // PEM roots that sign etcd's server certificate; empty = system roots
  std::string certFile;  // client certificate chain (PEM) for mutual TLS; empty = none
  std::string keyFile;   // its private key (PEM); set together with certFile
};

struct EtcdStoreOptions {
  // "host:port" or "[v6addr]:port". One endpoint may be any DNS name (gRPC re-resolves it and
  // fails over between its addresses). Several endpoints must all be IP literals of one family;
  // gRPC then connects to the first that answers and fails over in order.
  std::vector<std::string> endpoints;
  // Prepended to every key, so several Skiff instances can share one etcd. Usually ends in '/'.
  std::string keyPrefix = "/skiff/";
  // connect() fails with Unavailable if no endpoint answers within this time.
  std::chrono::milliseconds dialTimeout{5000};
  // Deadline of every unary RPC (and of establishing a watch).
  std::chrono::milliseconds requestTimeout{10000};
  std::optional<EtcdTlsOptions> tls;  // unset = plaintext
  // Events buffered per watch before its reader stops pulling from etcd.
  std::size_t watchQueueCapacity = 1024;
};

// Parses "etcd://h1:p1,h2:p2[/key/prefix/]" (plaintext) or "etcds://…" (TLS with system roots;
// fill in opts.tls for a private CA or client certificates). A path other than "/" replaces the
// default keyPrefix, with a '/' appended if missing ("/a" would also match "/ab"'s keys).
// InvalidArgument names what is wrong (scheme, empty host, port, query…).
Result<EtcdStoreOptions> parseEtcdUrl(std::string_view url);

class EtcdStore final : public Store, public Compactor {
 public:
  // Validates opts, dials, and checks that the endpoint answers an etcd v3 Range within
  // dialTimeout. Blocks up to dialTimeout + requestTimeout. InvalidArgument for bad options or
  // unreadable TLS files, Unavailable if etcd cannot be reached.
  static Result<std::unique_ptr<EtcdStore>> connect(const EtcdStoreOptions& opts);

  // Live watches end with Unavailable ("store closed"); they may outlive the store.
  ~EtcdStore() override;
  EtcdStore(const EtcdStore&) = delete;
  EtcdStore& operator=(const EtcdStore&) = delete;

  Result<KeyValue> get(std::string_view key) override;
  Result<ListResult> list(std::string_view prefix, const ListOptions& opts = {}) override;
  Result<std::int64_t> create(std::string_view key, std::string_view value) override;
  Result<std::int64_t> update(std::string_view key, std::string_view value,
                              std::int64_t expectedModRevision) override;
  Result<KeyValue> remove(std::string_view key, std::int64_t expectedModRevision) override;
  // One etcd transaction per up to 128 writes (etcd's default --max-txn-ops); all of one
  // transaction succeed or fail together and share a revision. Writes naming a key twice go one
  // by one (etcd refuses duplicate keys in a transaction).
  std::vector<Status> putMany(const std::vector<Put>& writes) override;
  Result<std::unique_ptr<Watch>> watch(std::string_view prefix, std::int64_t fromRevision) override;
  Result<std::int64_t> currentRevision() override;

  // Compactor, via etcd's KV.Compact(revision, physical): returns once etcd has applied it.
  Status compact(std::int64_t revision) override;
  // etcd does not report its compaction revision, so this is what this client knows without a
  // round trip: the value probed at connect(), raised by its own compact() calls and by compaction
  // notices on its watches. Another client's compaction shows up after
  // refreshCompactedRevision(). Cheap, non-blocking.
  std::int64_t compactedRevision() override;
  // Probes etcd for the current compaction revision (binary search with count-only reads at
  // revisions, O(log revision) round trips; one when nothing was compacted) and caches it.
  Result<std::int64_t> refreshCompactedRevision();

  const EtcdStoreOptions& options() const;

 private:
  struct Impl;
  explicit EtcdStore(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared with live watches, which may outlive the store
};

}  // namespace skiff::common::store::etcd
