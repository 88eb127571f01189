// Table columns per resource, matching the printers of a real kube-apiserver 1.32.
#include "control_plane/apiserver/table.h"

#include <functional>
#include <optional>
#include <set>

#include "common/clock.h"
#include "common/label_selector.h"

namespace skiff::control_plane::apiserver {

using common::Json;

namespace {

struct Column {
  const char* name;
  const char* type;
  const char* format;
  int priority;
  const char* description;
};

using CellFn = std::function<Json(const Json& obj, std::chrono::system_clock::time_point now)>;

struct Printer {
  std::vector<Column> columns;
  std::vector<CellFn> cells;
};

const Json& at(const Json& obj, std::initializer_list<const char*> path) {
  static const Json kNull;
  const Json* cur = &obj;
  for (const char* p : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(p);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

std::string str(const Json& v, const std::string& fallback = "") {
  return v.is_string() ? v.get<std::string>() : fallback;
}

long long num(const Json& v) { return v.is_number_integer() ? v.get<long long>() : 0; }

std::string orNone(const std::string& s) { return s.empty() ? "<none>" : s; }

std::string age(const Json& timestamp, std::chrono::system_clock::time_point now) {
  auto t = common::parseRfc3339(str(timestamp));
  if (!t) return "<unknown>";
  return humanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
}

Json nameCell(const Json& o, std::chrono::system_clock::time_point) {
  return str(at(o, {"metadata", "name"}));
}

Json ageCell(const Json& o, std::chrono::system_clock::time_point now) {
  return age(at(o, {"metadata", "creationTimestamp"}), now);
}

std::string joinContainers(const Json& podSpec, const char* field) {
  std::string out;
  const Json& cs = at(podSpec, {"containers"});
  if (!cs.is_array()) return out;
  for (const auto& c : cs) {
    if (!out.empty()) out += ",";
    out += str(at(c, {field}));
  }
  return out;
}

std::string selectorString(const Json& sel) {
  auto s = common::LabelSelector::fromJson(sel);
  return s.isOk() ? s->toString() : "";
}

// The template columns every workload printer shows (Deployment, ReplicaSet, DaemonSet).
Json templateContainersCell(const Json& o, std::chrono::system_clock::time_point) {
  return Json(joinContainers(at(o, {"spec", "template", "spec"}), "name"));
}
Json templateImagesCell(const Json& o, std::chrono::system_clock::time_point) {
  return Json(joinContainers(at(o, {"spec", "template", "spec"}), "image"));
}
Json selectorCell(const Json& o, std::chrono::system_clock::time_point) {
  return Json(selectorString(at(o, {"spec", "selector"})));
}

// READY, STATUS and RESTARTS of a pod, as kubectl's printer (printPod) computes them: init
// containers first (the first one not done names the status: Init:N/M, Init:<reason>,
// Init:ExitCode:N), native sidecars counted in READY once started, app containers last to first;
// RESTARTS counts init containers only while the pod is initializing.
struct PodColumns {
  std::string ready;
  std::string status;
  std::string restarts;
};

bool conditionTrue(const Json& pod, const char* type) {
  const Json& conds = at(pod, {"status", "conditions"});
  if (!conds.is_array()) return false;
  for (const auto& c : conds) {
    if (str(at(c, {"type"})) == type) return str(at(c, {"status"})) == "True";
  }
  return false;
}

PodColumns podColumns(const Json& pod, std::chrono::system_clock::time_point now) {
  using TP = std::chrono::system_clock::time_point;
  const Json& initSpecs = at(pod, {"spec", "initContainers"});
  std::set<std::string> sidecars;
  int total = at(pod, {"spec", "containers"}).is_array()
                  ? static_cast<int>(at(pod, {"spec", "containers"}).size())
                  : 0;
  int initTotal = initSpecs.is_array() ? static_cast<int>(initSpecs.size()) : 0;
  if (initSpecs.is_array()) {
    for (const auto& c : initSpecs) {
      if (str(at(c, {"restartPolicy"})) == "Always") {
        sidecars.insert(str(at(c, {"name"})));
        ++total;
      }
    }
  }
  int ready = 0;
  long long restarts = 0;
  long long sidecarRestarts = 0;
  std::optional<TP> lastRestart;
  std::optional<TP> lastSidecarRestart;
  auto later = [](std::optional<TP>& slot, const Json& cs) {
    auto t = common::parseRfc3339(str(at(cs, {"lastState", "terminated", "finishedAt"})));
    if (t && (!slot || *t > *slot)) slot = t;
  };
  std::string reason = str(at(pod, {"status", "phase"}));
  if (!str(at(pod, {"status", "reason"})).empty()) reason = str(at(pod, {"status", "reason"}));
  bool initializing = false;
  const Json& initStatuses = at(pod, {"status", "initContainerStatuses"});
  for (std::size_t i = 0; initStatuses.is_array() && i < initStatuses.size(); ++i) {
    const Json& cs = initStatuses[i];
    bool sidecar = sidecars.contains(str(at(cs, {"name"})));
    restarts += num(at(cs, {"restartCount"}));
    later(lastRestart, cs);
    if (sidecar) {
      sidecarRestarts += num(at(cs, {"restartCount"}));
      later(lastSidecarRestart, cs);
    }
    const Json& term = at(cs, {"state", "terminated"});
    const Json& wait = at(cs, {"state", "waiting"});
    bool started = at(cs, {"started"}).is_boolean() && at(cs, {"started"}).get<bool>();
    if (term.is_object() && num(at(term, {"exitCode"})) == 0) continue;
    if (sidecar && started) {
      if (at(cs, {"ready"}).is_boolean() && at(cs, {"ready"}).get<bool>()) ++ready;
      continue;
    }
    if (term.is_object()) {
      if (!str(at(term, {"reason"})).empty()) {
        reason = "Init:" + str(at(term, {"reason"}));
      } else if (num(at(term, {"signal"})) != 0) {
        reason = "Init:Signal:" + std::to_string(num(at(term, {"signal"})));
      } else {
        reason = "Init:ExitCode:" + std::to_string(num(at(term, {"exitCode"})));
      }
    } else if (wait.is_object() && !str(at(wait, {"reason"})).empty() &&
               str(at(wait, {"reason"})) != "PodInitializing") {
      reason = "Init:" + str(at(wait, {"reason"}));
    } else {
      reason = "Init:" + std::to_string(i) + "/" + std::to_string(initTotal);
    }
    initializing = true;
    break;
  }
  if (!initializing || conditionTrue(pod, "Initialized")) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    bool hasRunning = false;
    const Json& statuses = at(pod, {"status", "containerStatuses"});
    if (statuses.is_array()) {
      for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
        const Json& cs = *it;
        restarts += num(at(cs, {"restartCount"}));
        later(lastRestart, cs);
        const Json& wait = at(cs, {"state", "waiting"});
        const Json& term = at(cs, {"state", "terminated"});
        if (wait.is_object() && !str(at(wait, {"reason"})).empty()) {
          reason = str(at(wait, {"reason"}));
        } else if (term.is_object() && !str(at(term, {"reason"})).empty()) {
          reason = str(at(term, {"reason"}));
        } else if (term.is_object()) {
          reason = num(at(term, {"signal"})) != 0
                       ? "Signal:" + std::to_string(num(at(term, {"signal"})))
                       : "ExitCode:" + std::to_string(num(at(term, {"exitCode"})));
        } else if (at(cs, {"ready"}).is_boolean() && at(cs, {"ready"}).get<bool>() &&
                   at(cs, {"state", "running"}).is_object()) {
          hasRunning = true;
          ++ready;
        }
      }
    }
    if (reason == "Completed" && hasRunning) {
      reason = conditionTrue(pod, "Ready") ? "Running" : "NotReady";
    }
  }
  std::string phase = str(at(pod, {"status", "phase"}));
  if (!str(at(pod, {"metadata", "deletionTimestamp"})).empty()) {
    if (str(at(pod, {"status", "reason"})) == "NodeLost") {
      reason = "Unknown";
    } else if (phase != "Succeeded" && phase != "Failed") {
      reason = "Terminating";
    }
  }
  std::string restartText = std::to_string(restarts);
  if (restarts > 0 && lastRestart) {
    restartText +=
        " (" + humanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *lastRestart)) +
        " ago)";
  }
  return {std::to_string(ready) + "/" + std::to_string(total), reason, restartText};
}

std::string nodeStatus(const Json& node) {
  std::string status = "Unknown";
  const Json& conds = at(node, {"status", "conditions"});
  bool found = false;
  if (conds.is_array()) {
    for (const auto& c : conds) {
      if (str(at(c, {"type"})) == "Ready") {
        found = true;
        std::string s = str(at(c, {"status"}));
        // As kubectl's node printer: anything but True (False, Unknown) reads NotReady.
        status = s == "True" ? "Ready" : "NotReady";
      }
    }
  }
  if (!found) status = "Unknown";
  if (at(node, {"spec", "unschedulable"}).is_boolean() &&
      at(node, {"spec", "unschedulable"}).get<bool>()) {
    status += ",SchedulingDisabled";
  }
  return status;
}

std::string nodeRoles(const Json& node) {
  std::vector<std::string> roles;
  const Json& labels = at(node, {"metadata", "labels"});
  if (labels.is_object()) {
    for (const auto& [k, v] : labels.items()) {
      if (k.starts_with("node-role.kubernetes.io/")) {
        std::string role = k.substr(24);
        if (!role.empty()) roles.push_back(role);
      } else if (k == "kubernetes.io/role" && v.is_string()) {
        roles.push_back(v.get<std::string>());
      }
    }
  }
  std::string out;
  for (const auto& r : roles) out += (out.empty() ? "" : ",") + r;
  return orNone(out);
}

std::string nodeAddress(const Json& node, const char* type) {
  const Json& addrs = at(node, {"status", "addresses"});
  if (addrs.is_array()) {
    for (const auto& a : addrs) {
      if (str(at(a, {"type"})) == type) return str(at(a, {"address"}));
    }
  }
  return "<none>";
}

std::string servicePorts(const Json& svc) {
  std::string out;
  const Json& ports = at(svc, {"spec", "ports"});
  if (!ports.is_array()) return "<none>";
  for (const auto& p : ports) {
    if (!out.empty()) out += ",";
    out += std::to_string(num(at(p, {"port"})));
    if (num(at(p, {"nodePort"})) > 0) out += ":" + std::to_string(num(at(p, {"nodePort"})));
    out += "/" + str(at(p, {"protocol"}), "TCP");
  }
  return out.empty() ? "<none>" : out;
}

std::string mapToSelector(const Json& m) {
  if (!m.is_object() || m.empty()) return "<none>";
  std::string out;
  for (const auto& [k, v] : m.items()) {
    if (!out.empty()) out += ",";
    out += k + "=" + str(v);
  }
  return out;
}

std::string eventObject(const Json& ev) {
  std::string kind = str(at(ev, {"involvedObject", "kind"}));
  for (auto& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return kind + "/" + str(at(ev, {"involvedObject", "name"}));
}

std::string eventLastSeen(const Json& ev, std::chrono::system_clock::time_point now) {
  for (const char* f : {"lastTimestamp", "eventTime", "firstTimestamp"}) {
    const Json& t = at(ev, {f});
    if (t.is_string() && !t.get<std::string>().empty()) return age(t, now);
  }
  return age(at(ev, {"metadata", "creationTimestamp"}), now);
}

const Column kName{"Name", "string", "name", 0,
                   "Name must be unique within a namespace. Is required when creating "
                   "resources, although some resources may allow a client to request the "
                   "generation of an appropriate name automatically."};
const Column kAge{"Age", "string", "", 0,
                  "CreationTimestamp is a timestamp representing the server time when this "
                  "object was created."};

Printer podPrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {{kName,
           {"Ready", "string", "", 0,
            "The aggregate readiness state of this pod for accepting traffic."},
           {"Status", "string", "", 0, "The aggregate status of the containers in this pod."},
           {"Restarts", "string", "", 0,
            "The number of times the containers in this pod have been restarted and when the "
            "last container in this pod has restarted."},
           kAge,
           {"IP", "string", "", 1,
            "IP address allocated to the pod. Routable at least within the cluster. Empty if not "
            "yet allocated."},
           {"Node", "string", "", 1,
            "NodeName is a request to schedule this pod onto a specific node."},
           {"Nominated Node", "string", "", 1,
            "nominatedNodeName is set only when this pod preempts other pods on the node."},
           {"Readiness Gates", "string", "", 1,
            "If specified, all readiness gates will be evaluated for pod readiness."}},
          {nameCell, [](const Json& o, TP now) { return Json(podColumns(o, now).ready); },
           [](const Json& o, TP now) { return Json(podColumns(o, now).status); },
           [](const Json& o, TP now) { return Json(podColumns(o, now).restarts); }, ageCell,
           [](const Json& o, TP) {
             return Json(orNone(str(at(o, {"status", "podIP"}))));
           },
           [](const Json& o, TP) {
             return Json(orNone(str(at(o, {"spec", "nodeName"}))));
           },
           [](const Json& o, TP) {
             return Json(orNone(str(at(o, {"status", "nominatedNodeName"}))));
           },
           [](const Json&, TP) { return Json("<none>"); }}};
}

Printer nodePrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {
      {kName,
       {"Status", "string", "", 0, "The status of the node"},
       {"Roles", "string", "", 0, "The roles of the node"},
       kAge,
       {"Version", "string", "", 0, "Kubelet Version reported by the node."},
       {"Internal-IP", "string", "", 1,
        "List of addresses reachable to the node. Queried from cloud provider, if available."},
       {"External-IP", "string", "", 1,
        "List of addresses reachable to the node. Queried from cloud provider, if available."},
       {"OS-Image", "string", "", 1,
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."},
       {"Kernel-Version", "string", "", 1,
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."},
       {"Container-Runtime", "string", "", 1,
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
        "containerd://1.4.2)."}},
      {nameCell, [](const Json& o, TP) { return Json(nodeStatus(o)); },
       [](const Json& o, TP) { return Json(nodeRoles(o)); }, ageCell,
       [](const Json& o, TP) {
         return Json(str(at(o, {"status", "nodeInfo", "kubeletVersion"})));
       },
       [](const Json& o, TP) { return Json(nodeAddress(o, "InternalIP")); },
       [](const Json& o, TP) { return Json(nodeAddress(o, "ExternalIP")); },
       [](const Json& o, TP) {
         return Json(orNone(str(at(o, {"status", "nodeInfo", "osImage"}))));
       },
       [](const Json& o, TP) {
         return Json(orNone(str(at(o, {"status", "nodeInfo", "kernelVersion"}))));
       },
       [](const Json& o, TP) {
         return Json(orNone(str(at(o, {"status", "nodeInfo", "containerRuntimeVersion"}))));
       }}};
}

Printer deploymentPrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {{kName,
           {"Ready", "string", "", 0, "Number of the pod with ready state"},
           {"Up-to-date", "string", "", 0,
            "Total number of non-terminated pods targeted by this deployment that have the "
            "desired template spec."},
           {"Available", "string", "", 0,
            "Total number of available pods (ready for at least minReadySeconds) targeted by "
            "this deployment."},
           kAge,
           {"Containers", "string", "", 1, "Names of each container in the template."},
           {"Images", "string", "", 1, "Images referenced by each container in the template."},
           {"Selector", "string", "", 1,
            "Label selector for pods. Existing ReplicaSets whose pods are selected by this will "
            "be the ones affected by this deployment."}},
          {nameCell,
           [](const Json& o, TP) {
             return Json(std::to_string(num(at(o, {"status", "readyReplicas"}))) + "/" +
                         std::to_string(num(at(o, {"spec", "replicas"}))));
           },
           [](const Json& o, TP) {
             return Json(num(at(o, {"status", "updatedReplicas"})));
           },
           [](const Json& o, TP) {
             return Json(num(at(o, {"status", "availableReplicas"})));
           },
           ageCell, templateContainersCell, templateImagesCell, selectorCell}};
}

Printer replicaSetPrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {
      {kName,
       {"Desired", "integer", "", 0, "Replicas is the number of desired replicas."},
       {"Current", "integer", "", 0, "Replicas is the most recently observed number of replicas."},
       {"Ready", "integer", "", 0, "The number of ready replicas for this replica set."},
       kAge,
       {"Containers", "string", "", 1, "Names of each container in the template."},
       {"Images", "string", "", 1, "Images referenced by each container in the template."},
       {"Selector", "string", "", 1,
        "Selector is a label query over pods that should match the replica count."}},
      {nameCell,
       [](const Json& o, TP) {
         return Json(num(at(o, {"spec", "replicas"})));
       },
       [](const Json& o, TP) {
         return Json(num(at(o, {"status", "replicas"})));
       },
       [](const Json& o, TP) {
         return Json(num(at(o, {"status", "readyReplicas"})));
       },
       ageCell, templateContainersCell, templateImagesCell, selectorCell}};
}

Printer daemonSetPrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {{kName,
           {"Desired", "integer", "", 0,
            "The total number of nodes that should be running the daemon pod."},
           {"Current", "integer", "", 0,
            "The number of nodes that are running at least 1 daemon pod and are supposed to run "
            "the daemon pod."},
           {"Ready", "integer", "", 0,
            "numberReady is the number of nodes that should be running the daemon pod and have "
            "one or more of the daemon pod running and ready."},
           {"Up-to-date", "integer", "", 0,
            "The total number of nodes that are running updated daemon pod"},
           {"Available", "integer", "", 0,
            "The number of nodes that should be running the daemon pod and have one or more of "
            "the daemon pod running and available."},
           {"Node Selector", "string", "", 0,
            "NodeSelector is a selector which must be true for the pod to fit on a node."},
           kAge,
           {"Containers", "string", "", 1, "Names of each container in the template."},
           {"Images", "string", "", 1, "Images referenced by each container in the template."},
           {"Selector", "string", "", 1,
            "A label query over pods that are managed by the daemon set."}},
          {nameCell,
           [](const Json& o, TP) {
             return Json(num(at(o, {"status", "desiredNumberScheduled"})));
           },
           [](const Json& o, TP) {
             return Json(num(at(o, {"status", "currentNumberScheduled"})));
           },
           [](const Json& o, TP) {
             return Json(num(at(o, {"status", "numberReady"})));
           },
           [](const Json& o, TP) {
             return Json(num(at(o, {"status", "updatedNumberScheduled"})));
           },
           [](const Json& o, TP) {
             return Json(num(at(o, {"status", "numberAvailable"})));
           },
           [](const Json& o, TP) {
             return Json(mapToSelector(at(o, {"spec", "template", "spec", "nodeSelector"})));
           },
           ageCell, templateContainersCell, templateImagesCell, selectorCell}};
}

Printer servicePrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {{kName,
           {"Type", "string", "", 0, "type determines how the Service is exposed."},
           {"Cluster-IP", "string", "", 0,
            "clusterIP is the IP address of the service and is usually assigned randomly."},
           {"External-IP", "string", "", 0,
            "externalIPs is a list of IP addresses for which nodes in the cluster will also "
            "accept traffic for this service."},
           {"Port(s)", "string", "", 0, "The list of ports that are exposed by this service."},
           kAge,
           {"Selector", "string", "", 1,
            "Route service traffic to pods with label keys and values matching this selector."}},
          {nameCell,
           [](const Json& o, TP) {
             return Json(str(at(o, {"spec", "type"}), "ClusterIP"));
           },
           [](const Json& o, TP) {
             return Json(orNone(str(at(o, {"spec", "clusterIP"}))));
           },
           [](const Json& o, TP) {
             const Json& ext = at(o, {"spec", "externalIPs"});
             std::string out;
             if (ext.is_array()) {
               for (const auto& e : ext) out += (out.empty() ? "" : ",") + str(e);
             }
             return Json(orNone(out));
           },
           [](const Json& o, TP) { return Json(servicePorts(o)); }, ageCell,
           [](const Json& o, TP) {
             return Json(mapToSelector(at(o, {"spec", "selector"})));
           }}};
}

Printer eventPrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {
      {{"Last Seen", "string", "", 0, "The time the event was last seen"},
       {"Type", "string", "", 0,
        "Type of this event (Normal, Warning), new types could be added in the future."},
       {"Reason", "string", "", 0, "The reason this event is generated."},
       {"Object", "string", "", 0, "The object this Event is about."},
       {"Subobject", "string", "", 1, "The subobject this Event is about."},
       {"Source", "string", "", 1, "The component reporting this event."},
       {"Message", "string", "", 0,
        "A human-readable description of the status of this operation."},
       {"First Seen", "string", "", 1, "The time the event was first seen"},
       {"Count", "string", "", 1, "The number of times this event has occurred."},
       {"Name", "string", "name", 1, "The name of the event"}},
      {[](const Json& o, TP now) { return Json(eventLastSeen(o, now)); },
       [](const Json& o, TP) { return Json(str(at(o, {"type"}))); },
       [](const Json& o, TP) { return Json(str(at(o, {"reason"}))); },
       [](const Json& o, TP) { return Json(eventObject(o)); },
       [](const Json& o, TP) {
         return Json(str(at(o, {"involvedObject", "fieldPath"})));
       },
       [](const Json& o, TP) {
         return Json(str(at(o, {"source", "component"})));
       },
       [](const Json& o, TP) { return Json(str(at(o, {"message"}))); },
       [](const Json& o, TP now) {
         const Json& f = at(o, {"firstTimestamp"});
         return Json(f.is_string() ? age(f, now) : eventLastSeen(o, now));
       },
       [](const Json& o, TP) { return Json(std::to_string(std::max(1LL, num(at(o, {"count"}))))); },
       nameCell}};
}

Printer namespacePrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {{kName, {"Status", "string", "", 0, "The status of the namespace"}, kAge},
          {nameCell,
           [](const Json& o, TP) {
             return Json(str(at(o, {"status", "phase"}), "Active"));
           },
           ageCell}};
}

Printer configMapPrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {
      {kName, {"Data", "string", "", 0, "Number of data entries"}, kAge},
      {nameCell,
       [](const Json& o, TP) {
         return Json(static_cast<long long>(at(o, {"data"}).size() + at(o, {"binaryData"}).size()));
       },
       ageCell}};
}

Printer secretPrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {{kName,
           {"Type", "string", "", 0, "The type of the secret"},
           {"Data", "string", "", 0, "The number of entries in the secret"},
           kAge},
          {nameCell, [](const Json& o, TP) { return Json(str(at(o, {"type"}), "Opaque")); },
           [](const Json& o, TP) { return Json(static_cast<long long>(at(o, {"data"}).size())); },
           ageCell}};
}

Printer serviceAccountPrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {
      {kName, {"Secrets", "string", "", 0, "Number of secrets"}, kAge},
      {nameCell,
       [](const Json& o, TP) { return Json(static_cast<long long>(at(o, {"secrets"}).size())); },
       ageCell}};
}

Printer leasePrinter() {
  using TP = std::chrono::system_clock::time_point;
  return {{kName, {"Holder", "string", "", 0, "The holder of the lease"}, kAge},
          {nameCell,
           [](const Json& o, TP) {
             return Json(str(at(o, {"spec", "holderIdentity"})));
           },
           ageCell}};
}

Printer printerFor(const ResourceInfo& r) {
  if (r.group.empty() && r.resource == "pods") return podPrinter();
  if (r.group.empty() && r.resource == "nodes") return nodePrinter();
  if (r.group == "apps" && r.resource == "deployments") return deploymentPrinter();
  if (r.group == "apps" && r.resource == "replicasets") return replicaSetPrinter();
  if (r.group == "apps" && r.resource == "daemonsets") return daemonSetPrinter();
  if (r.group.empty() && r.resource == "services") return servicePrinter();
  if (r.group.empty() && r.resource == "events") return eventPrinter();
  if (r.group.empty() && r.resource == "namespaces") return namespacePrinter();
  if (r.group.empty() && r.resource == "configmaps") return configMapPrinter();
  if (r.group.empty() && r.resource == "secrets") return secretPrinter();
  if (r.group.empty() && r.resource == "serviceaccounts") return serviceAccountPrinter();
  if (r.resource == "leases") return leasePrinter();
  return {{kName, kAge}, {nameCell, ageCell}};
}

}  // namespace

std::string humanDuration(std::chrono::seconds d) {
  long long seconds = d.count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return std::to_string(seconds) + "s";
  long long minutes = seconds / 60;
  if (minutes < 10) {
    long long s = seconds % 60;
    return std::to_string(minutes) + "m" + (s ? std::to_string(s) + "s" : "");
  }
  if (minutes < 180) return std::to_string(minutes) + "m";
  long long hours = seconds / 3600;
  if (hours < 8) {
    long long m = minutes % 60;
    return std::to_string(hours) + "h" + (m ? std::to_string(m) + "m" : "");
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    long long h = hours % 24;
    return std::to_string(hours / 24) + "d" + (h ? std::to_string(h) + "h" : "");
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    return std::to_string(hours / 24 / 365) + "y" + (dy ? std::to_string(dy) + "d" : "");
  }
  return std::to_string(hours / 24 / 365) + "y";
}

Json toTable(const ResourceInfo& r, const std::vector<Json>& items,
             const std::string& resourceVersion, const std::string& continueToken,
             const std::string& includeObject, std::chrono::system_clock::time_point now) {
  Printer p = printerFor(r);
  Json cols = Json::array();
  for (const auto& c : p.columns) {
    cols.push_back({{"name", c.name},
                    {"type", c.type},
                    {"format", c.format},
                    {"description", c.description},
                    {"priority", c.priority}});
  }
  Json rows = Json::array();
  for (const auto& obj : items) {
    Json cells = Json::array();
    for (const auto& fn : p.cells) cells.push_back(fn(obj, now));
    Json row = {{"cells", cells}};
    if (includeObject == "Object") {
      Json full = obj;
      full["kind"] = r.kind;
      full["apiVersion"] = r.apiVersion();
      row["object"] = full;
    } else if (includeObject != "None") {
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", obj.value("metadata", Json::object())}};
    }
    rows.push_back(row);
  }
  Json meta = {{"resourceVersion", resourceVersion}};
  if (!continueToken.empty()) meta["continue"] = continueToken;
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", meta},
          {"columnDefinitions", cols},
          {"rows", rows}};
}

}  // namespace skiff::control_plane::apiserver
