// Protobuf wire decoding through libprotobuf's CodedInputStream (no generated k8s types needed):
// a small table per message type (field number → JSON name and kind) drives one generic decoder.
#include "control_plane/apiserver/protobuf_body.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <initializer_list>
#include <vector>

#include "common/base64.h"

namespace skiff::control_plane::apiserver {

using common::Json;
using google::protobuf::io::CodedInputStream;
using WFL = google::protobuf::internal::WireFormatLite;

namespace {

common::Status malformed() { return common::invalidArgument("malformed protobuf body"); }

enum class FieldKind {
  kString,          // string; empty = unset
  kInt,             // varint int32/int64 of a non-pointer Go field; 0 = unset
  kIntPtr,          // varint of a pointer field (*int32): present = set, even when 0
  kBool,            // bool of a non-pointer field; false = unset
  kBoolPtr,         // *bool
  kMessage,         // nested message; an empty one is left out
  kStringMap,       // map<string, string>
  kBytesMap,        // map<string, bytes> → base64 strings (ConfigMap binaryData, Secret data)
  kQuantityMap,     // map<string, resource.Quantity{string string = 1}>
  kIntOrString,     // intstr.IntOrString{type = 1, intVal = 2, strVal = 3}; 0 / "" = unset
  kIntOrStringPtr,  // *intstr.IntOrString: present = set, even to 0 (maxUnavailable: 0)
};

struct MessageDesc;

struct FieldDesc {
  int number;
  const char* name;
  FieldKind kind;
  bool repeated = false;
  const MessageDesc* message = nullptr;
};

struct MessageDesc {
  std::vector<FieldDesc> fields;
  const FieldDesc* find(int number) const {
    for (const auto& f : fields) {
      if (f.number == number) return &f;
    }
    return nullptr;
  }
};

using K = FieldKind;

// Field numbers from k8s.io/api/{core,apps}/v1/generated.proto and apimachinery's meta/v1.
// Fields the server sets (uid, resourceVersion, creationTimestamp, status, …) are left out, and
// so ignored, as are rarely written ones.
const MessageDesc kObjectMeta{{{1, "name", K::kString},
                               {2, "generateName", K::kString},
                               {3, "namespace", K::kString},
                               {11, "labels", K::kStringMap},
                               {12, "annotations", K::kStringMap},
                               {14, "finalizers", K::kString, true}}};
const MessageDesc kNamespaceSpec{{{1, "finalizers", K::kString, true}}};
const MessageDesc kLabelSelectorRequirement{
    {{1, "key", K::kString}, {2, "operator", K::kString}, {3, "values", K::kString, true}}};
const MessageDesc kLabelSelector{
    {{1, "matchLabels", K::kStringMap},
     {2, "matchExpressions", K::kMessage, true, &kLabelSelectorRequirement}}};
const MessageDesc kContainerPort{{{1, "name", K::kString},
                                  {2, "hostPort", K::kInt},
                                  {3, "containerPort", K::kInt},
                                  {4, "protocol", K::kString},
                                  {5, "hostIP", K::kString}}};
const MessageDesc kEnvVar{{{1, "name", K::kString}, {2, "value", K::kString}}};
const MessageDesc kVolumeMount{{{1, "name", K::kString},
                                {2, "readOnly", K::kBool},
                                {3, "mountPath", K::kString},
                                {4, "subPath", K::kString}}};
const MessageDesc kResources{{{1, "limits", K::kQuantityMap}, {2, "requests", K::kQuantityMap}}};
const MessageDesc kContainer{{{1, "name", K::kString},
                              {2, "image", K::kString},
                              {3, "command", K::kString, true},
                              {4, "args", K::kString, true},
                              {5, "workingDir", K::kString},
                              {6, "ports", K::kMessage, true, &kContainerPort},
                              {7, "env", K::kMessage, true, &kEnvVar},
                              {8, "resources", K::kMessage, false, &kResources},
                              {9, "volumeMounts", K::kMessage, true, &kVolumeMount},
                              {13, "terminationMessagePath", K::kString},
                              {14, "imagePullPolicy", K::kString},
                              {16, "stdin", K::kBool},
                              {17, "stdinOnce", K::kBool},
                              {18, "tty", K::kBool},
                              {20, "terminationMessagePolicy", K::kString}}};
const MessageDesc kLocalObjectReference{{{1, "name", K::kString}}};
const MessageDesc kToleration{{{1, "key", K::kString},
                               {2, "operator", K::kString},
                               {3, "value", K::kString},
                               {4, "effect", K::kString},
                               {5, "tolerationSeconds", K::kIntPtr}}};
const MessageDesc kPodSpec{{{2, "containers", K::kMessage, true, &kContainer},
                            {3, "restartPolicy", K::kString},
                            {4, "terminationGracePeriodSeconds", K::kIntPtr},
                            {5, "activeDeadlineSeconds", K::kIntPtr},
                            {6, "dnsPolicy", K::kString},
                            {7, "nodeSelector", K::kStringMap},
                            {8, "serviceAccountName", K::kString},
                            {10, "nodeName", K::kString},
                            {11, "hostNetwork", K::kBool},
                            {15, "imagePullSecrets", K::kMessage, true, &kLocalObjectReference},
                            {16, "hostname", K::kString},
                            {17, "subdomain", K::kString},
                            {19, "schedulerName", K::kString},
                            {20, "initContainers", K::kMessage, true, &kContainer},
                            {22, "tolerations", K::kMessage, true, &kToleration},
                            {24, "priorityClassName", K::kString}}};
const MessageDesc kPodTemplateSpec{{{1, "metadata", K::kMessage, false, &kObjectMeta},
                                    {2, "spec", K::kMessage, false, &kPodSpec}}};
const MessageDesc kRollingUpdateDeployment{
    {{1, "maxUnavailable", K::kIntOrStringPtr}, {2, "maxSurge", K::kIntOrStringPtr}}};
const MessageDesc kDeploymentStrategy{
    {{1, "type", K::kString}, {2, "rollingUpdate", K::kMessage, false, &kRollingUpdateDeployment}}};
const MessageDesc kDeploymentSpec{{{1, "replicas", K::kIntPtr},
                                   {2, "selector", K::kMessage, false, &kLabelSelector},
                                   {3, "template", K::kMessage, false, &kPodTemplateSpec},
                                   {4, "strategy", K::kMessage, false, &kDeploymentStrategy},
                                   {5, "minReadySeconds", K::kInt},
                                   {6, "revisionHistoryLimit", K::kIntPtr},
                                   {7, "paused", K::kBool},
                                   {9, "progressDeadlineSeconds", K::kIntPtr}}};
const MessageDesc kServicePort{{{1, "name", K::kString},
                                {2, "protocol", K::kString},
                                {3, "port", K::kInt},
                                {4, "targetPort", K::kIntOrString},
                                {5, "nodePort", K::kInt},
                                {6, "appProtocol", K::kString}}};
const MessageDesc kServiceSpec{{{1, "ports", K::kMessage, true, &kServicePort},
                                {2, "selector", K::kStringMap},
                                {3, "clusterIP", K::kString},
                                {4, "type", K::kString},
                                {5, "externalIPs", K::kString, true},
                                {7, "sessionAffinity", K::kString},
                                {10, "externalName", K::kString},
                                {11, "externalTrafficPolicy", K::kString},
                                {17, "ipFamilyPolicy", K::kString},
                                {18, "clusterIPs", K::kString, true},
                                {19, "ipFamilies", K::kString, true},
                                {22, "internalTrafficPolicy", K::kString}}};

const MessageDesc kNamespace{{{1, "metadata", K::kMessage, false, &kObjectMeta},
                              {2, "spec", K::kMessage, false, &kNamespaceSpec}}};
const MessageDesc kConfigMap{{{1, "metadata", K::kMessage, false, &kObjectMeta},
                              {2, "data", K::kStringMap},
                              {3, "binaryData", K::kBytesMap},
                              {4, "immutable", K::kBoolPtr}}};
const MessageDesc kSecret{{{1, "metadata", K::kMessage, false, &kObjectMeta},
                           {2, "data", K::kBytesMap},
                           {3, "type", K::kString},
                           {4, "stringData", K::kStringMap},
                           {5, "immutable", K::kBoolPtr}}};
const MessageDesc kServiceAccount{
    {{1, "metadata", K::kMessage, false, &kObjectMeta},
     {3, "imagePullSecrets", K::kMessage, true, &kLocalObjectReference},
     {4, "automountServiceAccountToken", K::kBoolPtr}}};
const MessageDesc kDeployment{{{1, "metadata", K::kMessage, false, &kObjectMeta},
                               {2, "spec", K::kMessage, false, &kDeploymentSpec}}};
const MessageDesc kService{{{1, "metadata", K::kMessage, false, &kObjectMeta},
                            {2, "spec", K::kMessage, false, &kServiceSpec}}};

// The top-level kinds kubectl's typed clients send as protobuf (create namespace|configmap|
// secret|deployment|service).
// authorization.k8s.io/v1 (kubectl auth can-i) and authentication.k8s.io/v1 (auth whoami).
const MessageDesc kResourceAttributes{{{1, "namespace", K::kString},
                                       {2, "verb", K::kString},
                                       {3, "group", K::kString},
                                       {4, "version", K::kString},
                                       {5, "resource", K::kString},
                                       {6, "subresource", K::kString},
                                       {7, "name", K::kString}}};
const MessageDesc kNonResourceAttributes{{{1, "path", K::kString}, {2, "verb", K::kString}}};
const MessageDesc kSelfSubjectAccessReviewSpec{
    {{1, "resourceAttributes", K::kMessage, false, &kResourceAttributes},
     {2, "nonResourceAttributes", K::kMessage, false, &kNonResourceAttributes}}};
const MessageDesc kSelfSubjectAccessReview{
    {{1, "metadata", K::kMessage, false, &kObjectMeta},
     {2, "spec", K::kMessage, false, &kSelfSubjectAccessReviewSpec}}};
const MessageDesc kSelfSubjectReview{{{1, "metadata", K::kMessage, false, &kObjectMeta}}};

const MessageDesc* messageFor(const std::string& apiVersion, const std::string& kind) {
  if (apiVersion == "authorization.k8s.io/v1" && kind == "SelfSubjectAccessReview") {
    return &kSelfSubjectAccessReview;
  }
  if (apiVersion == "authentication.k8s.io/v1" && kind == "SelfSubjectReview") {
    return &kSelfSubjectReview;
  }
  if (apiVersion == "v1" && kind == "Namespace") return &kNamespace;
  if (apiVersion == "v1" && kind == "ConfigMap") return &kConfigMap;
  if (apiVersion == "v1" && kind == "Secret") return &kSecret;
  if (apiVersion == "v1" && kind == "ServiceAccount") return &kServiceAccount;
  if (apiVersion == "v1" && kind == "Service") return &kService;
  if (apiVersion == "apps/v1" && kind == "Deployment") return &kDeployment;
  return nullptr;
}

CodedInputStream streamOf(const std::string& bytes) {
  return CodedInputStream(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                          static_cast<int>(bytes.size()));
}

// Reads a length-delimited field's bytes.
bool readBytes(CodedInputStream& in, std::string* out) {
  std::uint32_t len = 0;
  if (!in.ReadVarint32(&len)) return false;
  return in.ReadString(out, static_cast<int>(len));
}

// A map entry (key = 1, value = 2), both length-delimited.
bool readMapEntry(const std::string& bytes, std::string* key, std::string* value) {
  CodedInputStream in = streamOf(bytes);
  while (std::uint32_t tag = in.ReadTag()) {
    int field = WFL::GetTagFieldNumber(tag);
    if (WFL::GetTagWireType(tag) != WFL::WIRETYPE_LENGTH_DELIMITED) {
      if (!WFL::SkipField(&in, tag)) return false;
      continue;
    }
    std::string s;
    if (!readBytes(in, &s)) return false;
    if (field == 1) *key = std::move(s);
    if (field == 2) *value = std::move(s);
  }
  return in.ConsumedEntireMessage();
}

// The string of a resource.Quantity message (field 1).
bool readQuantity(const std::string& bytes, std::string* out) {
  std::string unused;
  return readMapEntry(bytes, out, &unused);
}

common::Result<Json> readIntOrString(const std::string& bytes, bool keepZero) {
  CodedInputStream in = streamOf(bytes);
  std::uint64_t type = 0;
  std::uint64_t intVal = 0;
  std::string strVal;
  while (std::uint32_t tag = in.ReadTag()) {
    int field = WFL::GetTagFieldNumber(tag);
    if (field == 1 && WFL::GetTagWireType(tag) == WFL::WIRETYPE_VARINT) {
      if (!in.ReadVarint64(&type)) return malformed();
    } else if (field == 2 && WFL::GetTagWireType(tag) == WFL::WIRETYPE_VARINT) {
      if (!in.ReadVarint64(&intVal)) return malformed();
    } else if (field == 3 && WFL::GetTagWireType(tag) == WFL::WIRETYPE_LENGTH_DELIMITED) {
      if (!readBytes(in, &strVal)) return malformed();
    } else if (!WFL::SkipField(&in, tag)) {
      return malformed();
    }
  }
  if (type == 1) return strVal.empty() && !keepZero ? Json() : Json(strVal);
  auto v = static_cast<std::int32_t>(intVal);
  return v == 0 && !keepZero ? Json() : Json(v);
}

common::Result<Json> decodeMessage(const MessageDesc& desc, const std::string& bytes, int depth) {
  if (depth > 16) return malformed();
  Json out = Json::object();
  CodedInputStream in = streamOf(bytes);
  while (std::uint32_t tag = in.ReadTag()) {
    const FieldDesc* f = desc.find(WFL::GetTagFieldNumber(tag));
    auto wire = WFL::GetTagWireType(tag);
    if (f == nullptr) {
      if (!WFL::SkipField(&in, tag)) return malformed();
      continue;
    }
    Json value;
    if (f->kind == K::kInt || f->kind == K::kIntPtr || f->kind == K::kBool ||
        f->kind == K::kBoolPtr) {
      std::uint64_t v = 0;
      if (wire != WFL::WIRETYPE_VARINT || !in.ReadVarint64(&v)) return malformed();
      if (f->kind == K::kBool || f->kind == K::kBoolPtr) {
        if (f->kind == K::kBool && v == 0) continue;
        value = v != 0;
      } else {
        if (f->kind == K::kInt && v == 0) continue;
        value = static_cast<std::int64_t>(v);
      }
      out[f->name] = value;
      continue;
    }
    std::string s;
    if (wire != WFL::WIRETYPE_LENGTH_DELIMITED || !readBytes(in, &s)) return malformed();
    switch (f->kind) {
      case K::kString:
        if (f->repeated) {
          out[f->name].push_back(s);
        } else if (!s.empty()) {
          out[f->name] = s;
        }
        break;
      case K::kMessage: {
        SKIFF_ASSIGN_OR_RETURN(Json m, decodeMessage(*f->message, s, depth + 1));
        if (f->repeated) {
          out[f->name].push_back(std::move(m));
        } else if (!m.empty()) {
          out[f->name] = std::move(m);
        }
        break;
      }
      case K::kStringMap:
      case K::kBytesMap:
      case K::kQuantityMap: {
        std::string k;
        std::string v;
        if (!readMapEntry(s, &k, &v)) return malformed();
        if (f->kind == K::kBytesMap) v = common::base64Encode(v);
        if (f->kind == K::kQuantityMap) {
          std::string q;
          if (!readQuantity(v, &q)) return malformed();
          v = std::move(q);
        }
        out[f->name][k] = v;
        break;
      }
      case K::kIntOrString:
      case K::kIntOrStringPtr: {
        SKIFF_ASSIGN_OR_RETURN(Json v, readIntOrString(s, f->kind == K::kIntOrStringPtr));
        if (!v.is_null()) out[f->name] = std::move(v);
        break;
      }
      default:
        return malformed();
    }
  }
  if (!in.ConsumedEntireMessage()) return malformed();
  return out;
}

}  // namespace

common::Result<Json> decodeProtobufBody(const ResourceInfo& r, std::string_view body) {
  return decodeProtobufObject(body, &r);
}

common::Result<Json> decodeProtobufObject(std::string_view body, const ResourceInfo* r) {
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (body.size() < kMagic.size() || body.substr(0, 4) != kMagic) {
    return common::invalidArgument("protobuf body without the k8s magic prefix");
  }
  body.remove_prefix(4);
  CodedInputStream in(reinterpret_cast<const std::uint8_t*>(body.data()),
                      static_cast<int>(body.size()));
  std::string apiVersion;
  std::string kind;
  std::string raw;
  while (std::uint32_t tag = in.ReadTag()) {
    int field = WFL::GetTagFieldNumber(tag);
    if (WFL::GetTagWireType(tag) != WFL::WIRETYPE_LENGTH_DELIMITED) {
      if (!WFL::SkipField(&in, tag)) return malformed();
      continue;
    }
    std::string s;
    if (!readBytes(in, &s)) return malformed();
    if (field == 1) {  // TypeMeta
      std::string k;
      std::string v;
      if (!readMapEntry(s, &k, &v)) return malformed();  // same shape: apiVersion=1, kind=2
      apiVersion = k;
      kind = v;
    } else if (field == 2) {
      raw = std::move(s);
    }
  }
  if (!in.ConsumedEntireMessage()) return malformed();
  const MessageDesc* desc = messageFor(apiVersion, kind);
  if (desc == nullptr || (r != nullptr && (r->kind != kind || r->apiVersion() != apiVersion))) {
    return common::invalidArgument(
        "protobuf request bodies are supported for Namespace, ConfigMap, Secret, "
        "ServiceAccount, Service, "
        "Deployment, SelfSubjectAccessReview and SelfSubjectReview only; send application/json");
  }
  SKIFF_ASSIGN_OR_RETURN(Json out, decodeMessage(*desc, raw, 0));
  out["kind"] = kind;
  out["apiVersion"] = apiVersion;
  if (!out.contains("metadata")) out["metadata"] = Json::object();
  return out;
}

}  // namespace skiff::control_plane::apiserver
