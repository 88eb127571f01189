// File helpers: POSIX I/O so durability (fsync of file and directory) is explicit.
#include "common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

namespace skiff::common {

namespace {
Status errnoStatus(const std::string& what, const std::string& path) {
  int e = errno;
  std::string msg = what + " " + path + ": " + std::strerror(e);
  if (e == ENOENT) return notFound(msg);
  if (e == EACCES || e == EPERM) return permissionDenied(msg);
  return unavailable(msg);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};
}  // namespace

Result<std::string> readFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return errnoStatus("open", path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus("read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Status writeFileAtomic(const std::string& path, std::string_view content, unsigned mode) {
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  std::random_device rd;
  std::string tmp = dir + "/." + p.filename().string() + ".tmp" + std::to_string(rd());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) return errnoStatus("create", tmp);
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = errnoStatus("write", tmp);
      ::unlink(tmp.c_str());
      return s;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd.get(), mode) != 0 || ::fsync(fd.get()) != 0) {
    Status s = errnoStatus("fsync", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::close(fd.release()) != 0) {
    Status s = errnoStatus("close", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = errnoStatus("rename", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0) return errnoStatus("open dir", dir);
  if (::fsync(dfd.get()) != 0) return errnoStatus("fsync dir", dir);
  return Status::ok();
}

Status makeDirs(const std::string& path, unsigned mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return unavailable("mkdir " + path + ": " + ec.message());
  ::chmod(path.c_str(), mode);
  return Status::ok();
}

}  // namespace skiff::common
