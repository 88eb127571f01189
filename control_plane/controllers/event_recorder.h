// Records core/v1 Events about objects, de-duplicated like client-go's recorder: the same
// (object, type, reason, message) within the series updates count and lastTimestamp of one
// Event instead of creating another. Thread-safe; writes go through the in-process API.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "control_plane/controllers/client.h"

namespace skiff::control_plane::controllers {

class EventRecorder {
 public:
  EventRecorder(Client& client, const common::Clock& clock, std::string component);
  // type: "Normal" or "Warning". obj must carry kind, apiVersion, metadata.{name,namespace,uid}.
  void record(const Json& obj, const std::string& type, const std::string& reason,
              const std::string& message);

 private:
  struct Entry {
    std::string name;
    std::string ns;
    long long count = 0;
  };
  Client& client_;
  const common::Clock& clock_;
  std::string component_;
  std::mutex mu_;
  std::map<std::string, Entry> seen_;
};

}  // namespace skiff::control_plane::controllers
