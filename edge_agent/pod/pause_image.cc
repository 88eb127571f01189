// Pause image: locate, archive, import (see pause_image.h).
#include "edge_agent/pod/pause_image.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/fs.h"
#include "common/log.h"
#include "common/tls.h"

namespace skiff::edge_agent::pod {

namespace {

// An octal field of `width` bytes: digits, then NUL (ustar's numeric format).
void octal(char* field, std::size_t width, std::uint64_t value) {
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1),
                static_cast<unsigned long long>(value));
}

}  // namespace

std::string ustarWithOneFile(std::string_view name, std::string_view content, int mode) {
  char header[512];
  std::memset(header, 0, sizeof(header));
  std::memcpy(header, name.data(), std::min<std::size_t>(name.size(), 100));
  octal(header + 100, 8, static_cast<unsigned>(mode) & 07777);
  octal(header + 108, 8, 0);  // uid
  octal(header + 116, 8, 0);  // gid
  octal(header + 124, 12, content.size());
  octal(header + 136, 12, 0);  // mtime
  header[156] = '0';           // regular file
  std::memcpy(header + 257, "ustar", 6);
  std::memcpy(header + 263, "00", 2);
  std::memcpy(header + 265, "root", 4);
  std::memcpy(header + 297, "root", 4);
  // The checksum is computed with its own field as spaces, then written as 6 digits, NUL, space.
  std::memset(header + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : header) sum += c;
  std::snprintf(header + 148, 8, "%06o", sum);
  header[155] = ' ';
  std::string out(header, sizeof(header));
  out.append(content);
  out.append((512 - content.size() % 512) % 512, '\0');
  out.append(1024, '\0');  // two zero blocks end the archive
  return out;
}

std::vector<std::string> defaultPauseBinaryPaths() {
  std::vector<std::string> out;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto dir = self.parent_path();
    out.push_back((dir / "skiff-pause").string());
    out.push_back((dir / "../lib/skiff-agent/skiff-pause").lexically_normal().string());
  }
  out.push_back("/usr/lib/skiff-agent/skiff-pause");
  return out;
}

PauseImage::PauseImage(engine::ContainerEngine& engine, engine::EngineResources& resources,
                       std::string pauseBinary, std::string customImage)
    : engine_(engine),
      resources_(resources),
      pauseBinary_(std::move(pauseBinary)),
      customImage_(std::move(customImage)) {}

common::Result<InfraImage> PauseImage::ensure() {
  std::lock_guard lock(mu_);
  if (known_) return *known_;  // (forget() when the engine lost it: an operator's prune)
  if (!customImage_.empty()) {
    SKIFF_RETURN_IF_ERROR(
        engine_.ensureImage(customImage_, common::protocol::PullPolicy::kIfNotPresent, nullptr)
            .status()
            .withContext("pod infra image"));
    known_ = InfraImage{customImage_, {}};
    return *known_;
  }
  std::vector<std::string> candidates =
      pauseBinary_.empty() ? defaultPauseBinaryPaths() : std::vector<std::string>{pauseBinary_};
  std::string binary;
  std::string path;
  for (const auto& c : candidates) {
    auto data = common::readFile(c);
    if (data.isOk()) {
      binary = std::move(*data);
      path = c;
      break;
    }
  }
  if (path.empty()) {
    std::string tried;
    for (const auto& c : candidates) tried += (tried.empty() ? "" : ", ") + c;
    return common::notFound("pod infra program skiff-pause not found (tried " + tried +
                            "); set --pause-binary or --pod-infra-image");
  }
  std::string reference = "localhost/skiff-pause:" + common::tls::sha256Hex(binary).substr(0, 12);
  InfraImage image{reference, {"/pause"}};
  auto present = engine_.ensureImage(reference, common::protocol::PullPolicy::kNever, nullptr);
  if (!present.isOk()) {
    if (present.status().code() != common::StatusCode::kNotFound) return present.status();
    SKIFF_ASSIGN_OR_RETURN(
        std::string id, resources_.importImage(reference, ustarWithOneFile("pause", binary, 0755)));
    common::log::info("imported the pod infra image",
                      {{"image", reference}, {"id", id}, {"from", path}});
  }
  known_ = image;
  return image;
}

void PauseImage::forget() {
  std::lock_guard lock(mu_);
  known_.reset();
}

}  // namespace skiff::edge_agent::pod
