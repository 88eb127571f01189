// gmock mocks of the ContainerEngine seam (edge_agent/engine/container_engine.h).
#pragma once

#include <gmock/gmock.h>

#include "edge_agent/engine/container_engine.h"

namespace skiff::test {

class MockContainerEngine : public edge_agent::engine::ContainerEngine {
 public:
  MOCK_METHOD(common::Result<edge_agent::engine::ImageInfo>, ensureImage,
              (const std::string& image, common::protocol::PullPolicy policy,
               const edge_agent::engine::RegistryAuth* auth),
              (override));
  MOCK_METHOD(common::Result<std::string>, create,
              (const edge_agent::engine::ContainerConfig& config), (override));
  MOCK_METHOD(common::Status, start, (const std::string& id), (override));
  MOCK_METHOD(common::Status, stop, (const std::string& id, std::chrono::seconds timeout),
              (override));
  MOCK_METHOD(common::Status, remove, (const std::string& id), (override));
  MOCK_METHOD(common::Result<edge_agent::engine::ContainerInfo>, inspect, (const std::string& id),
              (override));
  MOCK_METHOD(common::Result<std::vector<edge_agent::engine::ContainerInfo>>, list,
              ((const std::map<std::string, std::string>& labels)), (override));
};

class MockContainerIo : public edge_agent::engine::ContainerIo {
 public:
  MOCK_METHOD(common::Result<edge_agent::engine::EngineVersion>, version, (), (override));
  MOCK_METHOD(common::Status, logs,
              (const std::string& id, const edge_agent::engine::LogOptions& options,
               const edge_agent::engine::LogSink& sink, const std::function<bool()>& cancelled),
              (override));
  MOCK_METHOD(common::Result<edge_agent::engine::ContainerStats>, stats, (const std::string& id),
              (override));
  MOCK_METHOD(common::Result<edge_agent::engine::ExecResult>, exec,
              (const std::string& id, const std::vector<std::string>& command,
               std::chrono::milliseconds timeout),
              (override));
};

class MockEngineResources : public edge_agent::engine::EngineResources {
 public:
  MOCK_METHOD(common::Result<std::string>, importImage,
              (const std::string& reference, const std::string& rootfsTar), (override));
  MOCK_METHOD(common::Result<edge_agent::engine::VolumeInfo>, createVolume,
              (const edge_agent::engine::VolumeConfig& config), (override));
  MOCK_METHOD(common::Status, removeVolume, (const std::string& name), (override));
  MOCK_METHOD(common::Result<std::vector<std::string>>, listVolumes,
              ((const std::map<std::string, std::string>& labels)), (override));
};

}  // namespace skiff::test
