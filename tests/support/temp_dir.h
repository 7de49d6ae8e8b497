// A fresh directory under the system temp dir, removed with everything in it when the
// TempDir goes (unless Keep() was called, to leave a failed run's files to look at).
// Not copyable: one owner removes it. Not thread-safe.
#pragma once

#include <string>

namespace taskledger::test {

class TempDir {
 public:
  // REQUIRES: `prefix` is a file name (no '/'). A failure to create the directory is a
  // test failure (path() is then empty).
  explicit TempDir(const std::string& prefix = "taskledger-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name.
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  // Leaves the directory in place when the TempDir goes.
  void Keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

}  // namespace taskledger::test
