#pragma once
// A program run by a test (the avtrain binary, node): started with posix_spawn (safe in tests that run
// threads), stdin from /dev/null, stdout and stderr into files, this process's environment with
// `environment` on top. Killed (SIGKILL) and reaped when destroyed while still running, so a failed
// assertion leaves no process behind.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace avtrain::testing {

class ChildProcess {
 public:
  // argv[0] is looked up in PATH when it has no '/'. Throws std::runtime_error when it cannot start.
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& environment,
               std::filesystem::path stdout_file, std::filesystem::path stderr_file);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The raw wait status once it ended; nullopt while it runs.
  std::optional<int> poll();
  // poll() until it ends or `timeout` passes.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  int wait();
  // The exit code after wait(); -1 when a signal ended it.
  int exit_code();
  void send(int signal) const;
  pid_t pid() const { return pid_; }

  std::string out() const;  // what it wrote to stdout so far
  std::string err() const;
  const std::filesystem::path& stdout_file() const { return stdout_file_; }
  const std::filesystem::path& stderr_file() const { return stderr_file_; }

 private:
  std::filesystem::path stdout_file_, stderr_file_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// "exit code 3", "signal 9", ...
std::string describe_exit(int status);

}  // namespace avtrain::testing
