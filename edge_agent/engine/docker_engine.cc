// Docker Engine API client (see docker_engine.h). Every engine reply is parsed defensively: an
// engine is a local peer, but a malformed reply must become a Status, never a crash.
#include "edge_agent/engine/docker_engine.h"

#include <algorithm>
#include <thread>

#include "common/base64.h"
#include "common/clock.h"
#include "common/log.h"
#include "edge_agent/http_client.h"

namespace skiff::edge_agent::engine {

using common::Json;
using common::Result;
using common::Status;

namespace {

constexpr std::size_t kMaxExecOutput = 4096;

const Json* field(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}
std::string str(const Json& j, std::string_view key) {
  const Json* f = field(j, key);
  return f != nullptr && f->is_string() ? f->get<std::string>() : std::string();
}
std::int64_t integer(const Json& j, std::string_view key) {
  const Json* f = field(j, key);
  if (f == nullptr) return 0;
  if (f->is_number_integer()) return f->get<std::int64_t>();
  if (f->is_number_unsigned()) return static_cast<std::int64_t>(f->get<std::uint64_t>());
  if (f->is_number_float()) return static_cast<std::int64_t>(f->get<double>());
  return 0;
}
bool boolean(const Json& j, std::string_view key) {
  const Json* f = field(j, key);
  return f != nullptr && f->is_boolean() && f->get<bool>();
}
const Json& object(const Json& j, std::string_view key) {
  static const Json kEmpty = Json::object();
  const Json* f = field(j, key);
  return f != nullptr && f->is_object() ? *f : kEmpty;
}

std::optional<TimePoint> engineTime(const std::string& s) {
  if (s.empty()) return std::nullopt;
  auto t = common::parseRfc3339(s);
  // Docker reports "0001-01-01T00:00:00Z" for "never".
  if (!t || *t < std::chrono::system_clock::from_time_t(86400)) return std::nullopt;
  return t;
}

ContainerStatus parseStatus(std::string_view s) {
  if (s == "created" || s == "configured" || s == "initialized") return ContainerStatus::kCreated;
  // Podman's "stopping": the stop signal was sent, the process still runs.
  if (s == "running" || s == "stopping") return ContainerStatus::kRunning;
  if (s == "paused") return ContainerStatus::kPaused;
  if (s == "restarting") return ContainerStatus::kRestarting;
  if (s == "exited" || s == "stopped") return ContainerStatus::kExited;
  if (s == "dead" || s == "removing") return ContainerStatus::kDead;
  return ContainerStatus::kUnknown;
}

// The engine's message from an error body ({"message": "..."}), or the raw body.
std::string engineMessage(const std::string& body) {
  auto j = common::parseJson(body, 1 << 20);
  if (j.isOk()) {
    std::string m = str(*j, "message");
    if (!m.empty()) return m;
  }
  std::string b = body.substr(0, 512);
  while (!b.empty() && (b.back() == '\n' || b.back() == '\r')) b.pop_back();
  return b;
}

Status statusFor(long httpStatus, const std::string& what, const std::string& body) {
  std::string msg =
      what + ": " + engineMessage(body) + " (HTTP " + std::to_string(httpStatus) + ")";
  switch (httpStatus) {
    case 400:
      return common::invalidArgument(msg);
    case 401:
      return common::unauthenticated(msg);
    case 403:
      return common::permissionDenied(msg);
    case 404:
      return common::notFound(msg);
    case 409:
      return common::conflict(msg);
    case 503:
      return common::unavailable(msg);
    default:
      return common::internalError(msg);
  }
}

Json stringArray(const std::vector<std::string>& v) {
  Json a = Json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

}  // namespace

std::string_view toString(ContainerStatus s) {
  switch (s) {
    case ContainerStatus::kCreated:
      return "created";
    case ContainerStatus::kRunning:
      return "running";
    case ContainerStatus::kPaused:
      return "paused";
    case ContainerStatus::kRestarting:
      return "restarting";
    case ContainerStatus::kExited:
      return "exited";
    case ContainerStatus::kDead:
      return "dead";
    case ContainerStatus::kUnknown:
      break;
  }
  return "unknown";
}

// ---- Pure helpers -------------------------------------------------------------------------------

Result<ImageRef> parseImageRef(std::string_view ref) {
  if (ref.empty() || ref.size() > 1024)
    return common::invalidArgument("image: must be 1-1024 chars");
  for (char c : ref) {
    if (c <= ' ' || c == 0x7f || c == '?' || c == '#' || c == '\\') {
      return common::invalidArgument("image \"" + std::string(ref) + "\": invalid character");
    }
  }
  ImageRef out;
  std::string rest(ref);
  if (auto at = rest.find('@'); at != std::string::npos) {
    out.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!out.digest.starts_with("sha256:") || out.digest.size() != 71) {
      return common::invalidArgument("image \"" + std::string(ref) +
                                     "\": digest must be sha256:<64 hex>");
    }
  }
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    out.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (out.tag.empty())
      return common::invalidArgument("image \"" + std::string(ref) + "\": empty tag");
  }
  if (rest.empty() || rest.front() == '/' || rest.back() == '/') {
    return common::invalidArgument("image \"" + std::string(ref) + "\": empty repository");
  }
  if (out.tag.empty() && out.digest.empty()) out.tag = "latest";
  out.repository = rest;
  auto first = rest.find('/');
  std::string head = first == std::string::npos ? "" : rest.substr(0, first);
  if (!head.empty() && (head.find('.') != std::string::npos ||
                        head.find(':') != std::string::npos || head == "localhost")) {
    out.registry = head;
  } else {
    out.registry = "docker.io";
  }
  return out;
}

bool credentialMatches(std::string_view server, std::string_view registry) {
  auto normalize = [](std::string_view s) {
    std::string v(s);
    for (std::string_view p : {"https://", "http://"}) {
      if (v.starts_with(p)) v = v.substr(p.size());
    }
    if (auto slash = v.find('/'); slash != std::string::npos) v = v.substr(0, slash);
    if (v == "index.docker.io" || v == "registry-1.docker.io") v = "docker.io";
    return v;
  };
  return normalize(server) == normalize(registry);
}

Json dockerCreateBody(const ContainerConfig& c, bool podman) {
  Json body = Json::object();
  body["Image"] = c.image;
  if (!c.entrypoint.empty()) body["Entrypoint"] = stringArray(c.entrypoint);
  if (!c.cmd.empty()) body["Cmd"] = stringArray(c.cmd);
  body["Env"] = stringArray(c.env);
  if (!c.workingDir.empty()) body["WorkingDir"] = c.workingDir;
  Json labels = Json::object();
  for (const auto& [k, v] : c.labels) labels[k] = v;
  body["Labels"] = labels;
  body["StopTimeout"] = c.stopTimeoutSeconds;
  bool joinsNetwork = c.networkMode.starts_with("container:");
  if (!c.hostname.empty() && (!joinsNetwork || podman)) body["Hostname"] = c.hostname;
  if (!c.user.empty()) body["User"] = c.user;
  body["AttachStdin"] = false;
  body["AttachStdout"] = false;
  body["AttachStderr"] = false;
  body["Tty"] = false;
  body["OpenStdin"] = false;

  Json host = Json::object();
  Json exposed = Json::object();
  Json bindings = Json::object();
  for (const auto& p : c.ports) {
    std::string key = std::to_string(p.containerPort) + "/" + p.protocol;
    exposed[key] = Json::object();
    if (p.hostPort > 0) {
      Json b = Json::object();
      b["HostIp"] = p.hostIp;
      b["HostPort"] = std::to_string(p.hostPort);
      if (!bindings.contains(key)) bindings[key] = Json::array();
      bindings[key].push_back(b);
    }
  }
  if (!exposed.empty()) body["ExposedPorts"] = exposed;
  if (!bindings.empty()) host["PortBindings"] = bindings;
  Json mounts = Json::array();
  for (const auto& m : c.mounts) {
    Json jm = Json::object();
    jm["Type"] = m.volume ? "volume" : "bind";
    jm["Source"] = m.source;
    jm["Target"] = m.target;
    jm["ReadOnly"] = m.readOnly;
    mounts.push_back(jm);
  }
  if (!mounts.empty()) host["Mounts"] = mounts;
  Json devices = Json::array();
  for (const auto& d : c.devices) {
    Json jd = Json::object();
    jd["PathOnHost"] = d.hostPath;
    jd["PathInContainer"] = d.containerPath.empty() ? d.hostPath : d.containerPath;
    jd["CgroupPermissions"] = "rwm";
    devices.push_back(jd);
  }
  if (!devices.empty()) host["Devices"] = devices;
  if (c.memoryBytes > 0) host["Memory"] = c.memoryBytes;
  if (c.nanoCpus > 0) host["NanoCpus"] = c.nanoCpus;
  host["Privileged"] = c.privileged;
  if (!c.networkMode.empty()) host["NetworkMode"] = c.networkMode;
  if (!c.ipcMode.empty()) host["IpcMode"] = c.ipcMode;
  if (!c.pidMode.empty()) host["PidMode"] = c.pidMode;
  if (!c.groupAdd.empty()) {
    Json groups = Json::array();
    for (auto g : c.groupAdd) groups.push_back(std::to_string(g));
    host["GroupAdd"] = groups;
  }
  if (!c.capAdd.empty()) host["CapAdd"] = stringArray(c.capAdd);
  if (!c.capDrop.empty()) host["CapDrop"] = stringArray(c.capDrop);
  if (c.readonlyRootfs) host["ReadonlyRootfs"] = true;
  Json securityOpt = Json::array();
  if (c.noNewPrivileges) securityOpt.push_back("no-new-privileges");
  if (c.seccompUnconfined) securityOpt.push_back("seccomp=unconfined");
  if (!securityOpt.empty()) host["SecurityOpt"] = securityOpt;
  if (!c.sysctls.empty()) {
    Json sysctls = Json::object();
    for (const auto& [k, v] : c.sysctls) sysctls[k] = v;
    host["Sysctls"] = sysctls;
  }
  // The agent applies restart policies itself (CrashLoopBackOff, restart counts).
  host["RestartPolicy"] = Json{{"Name", "no"}, {"MaximumRetryCount", 0}};
  body["HostConfig"] = host;
  return body;
}

Result<ContainerInfo> parseContainerJson(const Json& j, bool fromList) {
  if (!j.is_object()) return common::internalError("engine: container entry is not an object");
  ContainerInfo info;
  info.id = str(j, "Id");
  if (info.id.empty()) return common::internalError("engine: container entry without Id");
  const Json& labels = fromList ? object(j, "Labels") : object(object(j, "Config"), "Labels");
  for (const auto& [k, v] : labels.items()) {
    if (v.is_string()) info.labels[k] = v.get<std::string>();
  }
  if (fromList) {
    const Json* names = field(j, "Names");
    if (names != nullptr && names->is_array() && !names->empty() && (*names)[0].is_string()) {
      info.name = (*names)[0].get<std::string>();
    }
    info.image = str(j, "Image");
    info.imageId = str(j, "ImageID");
    info.status = parseStatus(str(j, "State"));
  } else {
    info.name = str(j, "Name");
    info.image = str(object(j, "Config"), "Image");
    info.imageId = str(j, "Image");
    const Json& state = object(j, "State");
    info.status = parseStatus(str(state, "Status"));
    info.exitCode = static_cast<int>(integer(state, "ExitCode"));
    info.oomKilled = boolean(state, "OOMKilled");
    info.error = str(state, "Error");
    info.startedAt = engineTime(str(state, "StartedAt"));
    info.finishedAt = engineTime(str(state, "FinishedAt"));
    info.pid = static_cast<int>(integer(state, "Pid"));
    const Json& net = object(j, "NetworkSettings");
    info.ipAddress = str(net, "IPAddress");
    if (info.ipAddress.empty()) {
      for (const auto& [name, n] : object(net, "Networks").items()) {
        if (!str(n, "IPAddress").empty()) {
          info.ipAddress = str(n, "IPAddress");
          break;
        }
      }
    }
  }
  if (info.name.starts_with("/")) info.name = info.name.substr(1);
  if (!info.imageId.empty() && !info.imageId.starts_with("sha256:") && info.imageId.size() == 64) {
    info.imageId = "sha256:" + info.imageId;  // Podman reports bare hex
  }
  return info;
}

Result<bool> StreamDemuxer::feed(std::string_view data) {
  if (!decided_ && !data.empty()) {
    // Multiplexed frames start with a stream type 0-2 followed by three zero bytes.
    decided_ = true;
    unsigned char first = static_cast<unsigned char>(data[0]);
    raw_ = first > 2;
  }
  if (raw_) return sink_(data, false);
  pending_.append(data);
  std::size_t off = 0;
  bool keepGoing = true;
  while (keepGoing && pending_.size() - off >= 8) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(pending_[off + i]); };
    unsigned type = byte(0);
    if (type > 2 || byte(1) != 0 || byte(2) != 0 || byte(3) != 0) {
      return common::invalidArgument("engine: malformed log stream frame header");
    }
    std::size_t len = (std::size_t{byte(4)} << 24) | (std::size_t{byte(5)} << 16) |
                      (std::size_t{byte(6)} << 8) | std::size_t{byte(7)};
    if (pending_.size() - off - 8 < len) break;
    keepGoing = sink_(std::string_view(pending_).substr(off + 8, len), type == 2);
    off += 8 + len;
  }
  pending_.erase(0, off);
  return keepGoing;
}

// ---- DockerEngine -------------------------------------------------------------------------------

Result<DockerEngine::Reply> DockerEngine::call(const std::string& method, const std::string& path,
                                               const std::string& body,
                                               std::chrono::milliseconds timeout,
                                               const std::vector<std::string>& headers) {
  HttpRequest req;
  req.method = method;
  req.url = "http://d/v" + opts_.apiVersion + path;
  req.unixSocket = opts_.socketPath;
  req.body = body;
  req.headers = headers;
  if (!body.empty()) req.headers.push_back("Content-Type: application/json");
  req.timeout = timeout.count() > 0
                    ? timeout
                    : std::chrono::duration_cast<std::chrono::milliseconds>(opts_.requestTimeout);
  req.cancelled = [this] { return cancelled_.load(); };
  if (cancelled_) return common::unavailable("container engine client is shutting down");
  auto r = httpPerform(req);
  if (!r.isOk()) return r.status().withContext("container engine at " + opts_.socketPath);
  if (r->aborted) return common::unavailable("container engine client is shutting down");
  return Reply{r->status, std::move(r->body)};
}

Result<std::optional<ImageInfo>> DockerEngine::imageInfo(const std::string& image) {
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("GET", "/images/" + image + "/json"));
  if (r.status == 404) return std::optional<ImageInfo>();
  if (r.status != 200) return statusFor(r.status, "inspect image " + image, r.body);
  auto j = common::parseJson(r.body, 16 << 20);
  if (!j.isOk()) return common::internalError("engine: unreadable image inspect reply");
  ImageInfo info;
  info.id = str(*j, "Id");
  if (!info.id.empty() && !info.id.starts_with("sha256:")) info.id = "sha256:" + info.id;
  info.user = str(object(*j, "Config"), "User");
  return std::optional<ImageInfo>(std::move(info));
}

bool DockerEngine::isPodman() {
  int known = podman_.load();
  if (known >= 0) return known == 1;
  auto v = version();
  if (!v.isOk()) return false;  // unknown: asked again next time
  podman_ = v->name == "podman" ? 1 : 0;
  return v->name == "podman";
}

Status DockerEngine::pull(const std::string& image, const RegistryAuth* auth) {
  SKIFF_ASSIGN_OR_RETURN(ImageRef ref, parseImageRef(image));
  std::string path = "/images/create?fromImage=" + urlEncode(ref.repository);
  path += "&tag=" + urlEncode(ref.digest.empty() ? ref.tag : ref.digest);
  std::vector<std::string> headers;
  if (auth != nullptr) {
    Json a = {{"username", auth->username},
              {"password", auth->password},
              {"serveraddress", auth->server}};
    // X-Registry-Auth is base64url-encoded JSON.
    std::string enc = common::base64Encode(common::dumpJson(a));
    std::replace(enc.begin(), enc.end(), '+', '-');
    std::replace(enc.begin(), enc.end(), '/', '_');
    headers.push_back("X-Registry-Auth: " + enc);
  }
  SKIFF_ASSIGN_OR_RETURN(
      Reply r,
      call("POST", path, "",
           std::chrono::duration_cast<std::chrono::milliseconds>(opts_.pullTimeout), headers));
  if (r.status != 200) return statusFor(r.status, "pull " + image, r.body);
  // Progress is a stream of JSON objects; a failure arrives as {"error": ...} with status 200.
  std::size_t start = 0;
  while (start < r.body.size()) {
    std::size_t end = r.body.find('\n', start);
    if (end == std::string::npos) end = r.body.size();
    std::string_view line(r.body.data() + start, end - start);
    start = end + 1;
    if (line.find("\"error") == std::string_view::npos) continue;
    auto j = common::parseJson(line, 1 << 20);
    if (!j.isOk()) continue;
    std::string err = str(*j, "error");
    if (err.empty()) err = str(object(*j, "errorDetail"), "message");
    if (err.empty()) continue;
    std::string lower = err;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    std::string msg = "pull " + image + ": " + err;
    if (lower.find("unauthorized") != std::string::npos ||
        lower.find("authentication required") != std::string::npos) {
      return common::unauthenticated(msg);
    }
    if (lower.find("not found") != std::string::npos ||
        lower.find("manifest unknown") != std::string::npos) {
      return common::notFound(msg);
    }
    return common::unavailable(msg);
  }
  return Status::ok();
}

Result<ImageInfo> DockerEngine::ensureImage(const std::string& image,
                                            common::protocol::PullPolicy policy,
                                            const RegistryAuth* auth) {
  using common::protocol::PullPolicy;
  SKIFF_RETURN_IF_ERROR(parseImageRef(image).status());
  if (policy != PullPolicy::kAlways) {
    SKIFF_ASSIGN_OR_RETURN(auto info, imageInfo(image));
    if (info.has_value()) return *info;
    if (policy == PullPolicy::kNever) {
      return common::notFound("image " + image + " is not present and pullPolicy is Never");
    }
  }
  SKIFF_RETURN_IF_ERROR(pull(image, auth));
  SKIFF_ASSIGN_OR_RETURN(auto info, imageInfo(image));
  if (!info.has_value()) {
    return common::notFound("image " + image + " missing right after its pull");
  }
  return *info;
}

Result<std::string> DockerEngine::create(const ContainerConfig& config) {
  bool podman =
      config.networkMode.starts_with("container:") && !config.hostname.empty() && isPodman();
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("POST", "/containers/create?name=" + urlEncode(config.name),
                                       common::dumpJson(dockerCreateBody(config, podman))));
  if (r.status != 201 && r.status != 200) {
    Status s = statusFor(r.status, "create container " + config.name, r.body);
    // Docker answers 409 for a taken name; Podman's compat API 500 "... is already in use".
    if (s.message().find("already in use") != std::string::npos)
      return common::conflict(s.message());
    return s;
  }
  auto j = common::parseJson(r.body, 1 << 20);
  if (!j.isOk() || str(*j, "Id").empty()) {
    return common::internalError("engine: create reply without Id: " + r.body.substr(0, 200));
  }
  return str(*j, "Id");
}

Status DockerEngine::start(const std::string& id) {
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("POST", "/containers/" + id + "/start"));
  if (r.status == 204 || r.status == 304 || r.status == 200) return Status::ok();
  return statusFor(r.status, "start container " + id, r.body);
}

Status DockerEngine::stop(const std::string& id, std::chrono::seconds timeout) {
  SKIFF_ASSIGN_OR_RETURN(
      Reply r,
      call("POST", "/containers/" + id + "/stop?t=" + std::to_string(timeout.count()), "",
           std::chrono::duration_cast<std::chrono::milliseconds>(timeout + opts_.requestTimeout)));
  if (r.status == 204 || r.status == 304 || r.status == 200) return Status::ok();
  return statusFor(r.status, "stop container " + id, r.body);
}

Status DockerEngine::remove(const std::string& id) {
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("DELETE", "/containers/" + id + "?force=true&v=true"));
  if (r.status == 204 || r.status == 200 || r.status == 404) return Status::ok();
  return statusFor(r.status, "remove container " + id, r.body);
}

Result<ContainerInfo> DockerEngine::inspect(const std::string& id) {
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("GET", "/containers/" + id + "/json"));
  if (r.status != 200) return statusFor(r.status, "inspect container " + id, r.body);
  auto j = common::parseJson(r.body, 16 << 20);
  if (!j.isOk()) return common::internalError("engine: unreadable inspect reply for " + id);
  return parseContainerJson(*j, false);
}

Result<std::vector<ContainerInfo>> DockerEngine::list(
    const std::map<std::string, std::string>& labels) {
  Json filter = Json::array();
  for (const auto& [k, v] : labels) filter.push_back(k + "=" + v);
  std::string path = "/containers/json?all=true";
  if (!labels.empty()) path += "&filters=" + urlEncode(common::dumpJson(Json{{"label", filter}}));
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("GET", path));
  if (r.status != 200) return statusFor(r.status, "list containers", r.body);
  auto j = common::parseJson(r.body, 64 << 20);
  if (!j.isOk() || !j->is_array()) return common::internalError("engine: unreadable list reply");
  std::vector<ContainerInfo> out;
  for (const auto& e : *j) {
    SKIFF_ASSIGN_OR_RETURN(ContainerInfo info, parseContainerJson(e, true));
    // Filter again locally: an engine that ignored the filter must not make us touch others.
    bool all = std::all_of(labels.begin(), labels.end(), [&](const auto& kv) {
      auto it = info.labels.find(kv.first);
      return it != info.labels.end() && it->second == kv.second;
    });
    if (all) out.push_back(std::move(info));
  }
  return out;
}

Result<EngineVersion> DockerEngine::version() {
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("GET", "/version"));
  if (r.status != 200) return statusFor(r.status, "engine version", r.body);
  auto j = common::parseJson(r.body, 1 << 20);
  if (!j.isOk()) return common::internalError("engine: unreadable version reply");
  EngineVersion v;
  v.version = str(*j, "Version");
  v.apiVersion = str(*j, "ApiVersion");
  v.name = "docker";
  std::string platform = str(object(*j, "Platform"), "Name");
  std::string lowerPlatform = platform;
  std::transform(lowerPlatform.begin(), lowerPlatform.end(), lowerPlatform.begin(), ::tolower);
  bool podman = lowerPlatform.find("podman") != std::string::npos;
  const Json* comps = field(*j, "Components");
  if (comps != nullptr && comps->is_array()) {
    for (const auto& c : *comps) {
      if (str(c, "Name").find("Podman") != std::string::npos) podman = true;
    }
  }
  if (podman) {
    v.name = "podman";
  } else if (lowerPlatform.find("balena") != std::string::npos) {
    v.name = "balena-engine";
  }
  return v;
}

Status DockerEngine::logs(const std::string& id, const LogOptions& o, const LogSink& sink,
                          const std::function<bool()>& cancelled) {
  std::string path = "/containers/" + id + "/logs?stdout=true&stderr=true";
  path += "&follow=" + std::string(o.follow ? "true" : "false");
  path += "&timestamps=" + std::string(o.timestamps ? "true" : "false");
  path += "&tail=" + (o.tailLines >= 0 ? std::to_string(o.tailLines) : std::string("all"));
  if (o.since) {
    path +=
        "&since=" +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(o.since->time_since_epoch()).count());
  }
  StreamDemuxer demux(sink);
  Status streamError;
  HttpRequest req;
  req.method = "GET";
  req.url = "http://d/v" + opts_.apiVersion + path;
  req.unixSocket = opts_.socketPath;
  req.timeout = o.follow
                    ? std::chrono::milliseconds(0)
                    : std::chrono::duration_cast<std::chrono::milliseconds>(opts_.requestTimeout);
  req.onData = [&](std::string_view data) {
    auto r = demux.feed(data);
    if (!r.isOk()) {
      streamError = r.status();
      return false;
    }
    return *r;
  };
  req.cancelled = [this, &cancelled] { return cancelled_.load() || (cancelled && cancelled()); };
  auto r = httpPerform(req);
  if (!r.isOk()) return r.status().withContext("container engine at " + opts_.socketPath);
  if (!streamError.isOk()) return streamError;
  if (!r->aborted && (r->status < 200 || r->status >= 300)) {
    return statusFor(r->status, "logs of container " + id, r->body);
  }
  return Status::ok();
}

Result<ContainerStats> DockerEngine::stats(const std::string& id) {
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("GET", "/containers/" + id + "/stats?stream=false"));
  if (r.status != 200) return statusFor(r.status, "stats of container " + id, r.body);
  auto j = common::parseJson(r.body, 4 << 20);
  if (!j.isOk()) return common::internalError("engine: unreadable stats reply");
  ContainerStats s;
  s.at = engineTime(str(*j, "read")).value_or(std::chrono::system_clock::now());
  s.cpuTotalNanos = static_cast<std::uint64_t>(
      integer(object(object(*j, "cpu_stats"), "cpu_usage"), "total_usage"));
  const Json& mem = object(*j, "memory_stats");
  std::int64_t usage = integer(mem, "usage");
  const Json& ms = object(mem, "stats");
  // Like `docker stats`: page cache that can be reclaimed is not the container's memory.
  std::int64_t inactive = integer(ms, "total_inactive_file");
  if (inactive == 0) inactive = integer(ms, "inactive_file");
  s.memoryBytes = usage > inactive ? usage - inactive : usage;
  return s;
}

Result<ExecResult> DockerEngine::exec(const std::string& id,
                                      const std::vector<std::string>& command,
                                      std::chrono::milliseconds timeout) {
  if (command.empty()) return common::invalidArgument("exec: empty command");
  Json body = {{"AttachStdout", true},
               {"AttachStderr", true},
               {"AttachStdin", false},
               {"Tty", false},
               {"Cmd", stringArray(command)}};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  SKIFF_ASSIGN_OR_RETURN(Reply created,
                         call("POST", "/containers/" + id + "/exec", common::dumpJson(body)));
  if (created.status != 201 && created.status != 200) {
    return statusFor(created.status, "exec in container " + id, created.body);
  }
  auto cj = common::parseJson(created.body, 1 << 20);
  std::string execId = cj.isOk() ? str(*cj, "Id") : "";
  if (execId.empty()) return common::internalError("engine: exec create reply without Id");

  ExecResult result;
  StreamDemuxer demux([&result](std::string_view data, bool) {
    std::size_t room = kMaxExecOutput - std::min(kMaxExecOutput, result.output.size());
    result.output.append(data.substr(0, room));
    return true;
  });
  HttpRequest req;
  req.method = "POST";
  req.url = "http://d/v" + opts_.apiVersion + "/exec/" + execId + "/start";
  req.unixSocket = opts_.socketPath;
  req.body = R"({"Detach":false,"Tty":false})";
  req.headers = {"Content-Type: application/json"};
  req.timeout = std::max(std::chrono::milliseconds(1), timeout);
  req.onData = [&demux](std::string_view data) {
    auto r = demux.feed(data);
    return r.isOk() && *r;
  };
  req.cancelled = [this] { return cancelled_.load(); };
  auto started = httpPerform(req);
  if (!started.isOk()) {
    if (started.status().code() == common::StatusCode::kDeadlineExceeded) {
      return common::deadlineExceeded("exec " + command[0] + ": timed out after " +
                                      common::formatDuration(timeout));
    }
    return started.status();
  }
  if (started->status < 200 || started->status >= 300) {
    return statusFor(started->status, "start exec in container " + id, started->body);
  }
  // The stream ends when the process exits; its exit code can lag behind briefly.
  while (true) {
    SKIFF_ASSIGN_OR_RETURN(Reply r, call("GET", "/exec/" + execId + "/json"));
    if (r.status != 200) return statusFor(r.status, "inspect exec " + execId, r.body);
    auto j = common::parseJson(r.body, 1 << 20);
    if (!j.isOk()) return common::internalError("engine: unreadable exec inspect reply");
    if (!boolean(*j, "Running")) {
      result.exitCode = static_cast<int>(integer(*j, "ExitCode"));
      return result;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return common::deadlineExceeded("exec " + command[0] + ": timed out after " +
                                      common::formatDuration(timeout));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// ---- EngineResources ----------------------------------------------------------------------------

Result<std::string> DockerEngine::importImage(const std::string& reference,
                                              const std::string& rootfsTar) {
  SKIFF_ASSIGN_OR_RETURN(ImageRef ref, parseImageRef(reference));
  // Import untagged (engines disagree on the tag parameter of an import), then tag by id.
  HttpRequest req;
  req.method = "POST";
  req.url = "http://d/v" + opts_.apiVersion + "/images/create?fromSrc=-";
  req.unixSocket = opts_.socketPath;
  req.body = rootfsTar;
  req.headers = {"Content-Type: application/x-tar"};
  req.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.pullTimeout);
  req.cancelled = [this] { return cancelled_.load(); };
  if (cancelled_) return common::unavailable("container engine client is shutting down");
  auto r = httpPerform(req);
  if (!r.isOk()) return r.status().withContext("container engine at " + opts_.socketPath);
  if (r->status != 200 && r->status != 201) {
    return statusFor(r->status, "import image " + reference, r->body);
  }
  // A stream of JSON objects; the id is the "status" of the last one ("sha256:…" or the bare
  // hex), errors arrive as {"error": ...}.
  std::string id;
  std::size_t start = 0;
  while (start < r->body.size()) {
    std::size_t end = r->body.find('\n', start);
    if (end == std::string::npos) end = r->body.size();
    auto j = common::parseJson(std::string_view(r->body).substr(start, end - start), 1 << 20);
    start = end + 1;
    if (!j.isOk()) continue;
    if (!str(*j, "error").empty()) {
      return common::internalError("import image " + reference + ": " + str(*j, "error"));
    }
    std::string st = str(*j, "status");
    if (st.starts_with("sha256:") || (st.size() == 64 && st.find(' ') == std::string::npos)) {
      id = st;
    }
  }
  if (id.empty()) {
    return common::internalError("import image " + reference +
                                 ": no image id in the reply: " + r->body.substr(0, 200));
  }
  std::string tag = ref.tag.empty() ? "latest" : ref.tag;
  SKIFF_ASSIGN_OR_RETURN(Reply t,
                         call("POST", "/images/" + id + "/tag?repo=" + urlEncode(ref.repository) +
                                          "&tag=" + urlEncode(tag)));
  if (t.status != 201 && t.status != 200) {
    return statusFor(t.status, "tag image " + id + " as " + reference, t.body);
  }
  return id.starts_with("sha256:") ? id : "sha256:" + id;
}

Result<VolumeInfo> DockerEngine::createVolume(const VolumeConfig& c) {
  auto body = [&](bool withSize) {
    Json b = {{"Name", c.name}, {"Driver", "local"}};
    Json labels = Json::object();
    for (const auto& [k, v] : c.labels) labels[k] = v;
    b["Labels"] = labels;
    if (c.tmpfs) {
      std::string o = "nodev,nosuid";
      if (withSize && c.sizeBytes > 0) o += ",size=" + std::to_string(c.sizeBytes);
      b["DriverOpts"] = {{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", o}};
    }
    return common::dumpJson(b);
  };
  bool withSize = c.tmpfs && c.sizeBytes > 0;
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("POST", "/volumes/create", body(withSize)));
  if (r.status != 201 && r.status != 200 && withSize &&
      engineMessage(r.body).find("size") != std::string::npos) {
    // Podman 4.3 takes "size" for its own quota option and refuses it on file systems without
    // project quota: create the tmpfs unsized; the agent enforces the limit by usage.
    withSize = false;
    SKIFF_ASSIGN_OR_RETURN(r, call("POST", "/volumes/create", body(false)));
  }
  if (r.status != 201 && r.status != 200) {
    return statusFor(r.status, "create volume " + c.name, r.body);
  }
  auto j = common::parseJson(r.body, 1 << 20);
  if (!j.isOk()) return common::internalError("engine: unreadable volume create reply");
  VolumeInfo info;
  info.name = str(*j, "Name").empty() ? c.name : str(*j, "Name");
  info.mountpoint = str(*j, "Mountpoint");
  info.sizeApplied = withSize;
  return info;
}

Status DockerEngine::removeVolume(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("DELETE", "/volumes/" + urlEncode(name) + "?force=false"));
  if (r.status == 204 || r.status == 200 || r.status == 404) return Status::ok();
  return statusFor(r.status, "remove volume " + name, r.body);
}

Result<std::vector<std::string>> DockerEngine::listVolumes(
    const std::map<std::string, std::string>& labels) {
  Json filter = Json::array();
  for (const auto& [k, v] : labels) filter.push_back(k + "=" + v);
  std::string path = "/volumes";
  if (!labels.empty()) path += "?filters=" + urlEncode(common::dumpJson(Json{{"label", filter}}));
  SKIFF_ASSIGN_OR_RETURN(Reply r, call("GET", path));
  if (r.status != 200) return statusFor(r.status, "list volumes", r.body);
  auto j = common::parseJson(r.body, 16 << 20);
  if (!j.isOk()) return common::internalError("engine: unreadable volume list reply");
  std::vector<std::string> out;
  const Json* vols = field(*j, "Volumes");
  if (vols == nullptr || !vols->is_array()) return out;
  for (const auto& v : *vols) {
    bool all = std::all_of(labels.begin(), labels.end(), [&](const auto& kv) {
      return str(object(v, "Labels"), kv.first) == kv.second;
    });
    if (all && !str(v, "Name").empty()) out.push_back(str(v, "Name"));
  }
  return out;
}

}  // namespace skiff::edge_agent::engine
