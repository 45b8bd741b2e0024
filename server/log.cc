#include "server/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace kiln::server {
namespace {
std::atomic<int> verbosity{0};
}  // namespace

void SetLogVerbosity(int level) { verbosity.store(level); }
int LogVerbosity() { return verbosity.load(); }

void Log(LogSeverity severity, std::string_view message) {
  if (severity == LogSeverity::kVerbose && verbosity.load() < 1) return;
  const char letter = severity == LogSeverity::kInfo      ? 'I'
                      : severity == LogSeverity::kWarning ? 'W'
                      : severity == LogSeverity::kError   ? 'E'
                                                          : 'V';
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const long micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          now.time_since_epoch())
                          .count() %
                      1000000;
  std::tm tm{};
  localtime_r(&seconds, &tm);
  char prefix[64];
  std::snprintf(prefix, sizeof(prefix), "%c%02d%02d %02d:%02d:%02d.%06ld %ld] ",
                letter, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                tm.tm_sec, micros, static_cast<long>(syscall(SYS_gettid)));
  std::string line(prefix);
  line.append(message);
  line.push_back('\n');
  // One write per line keeps lines from interleaving across threads.
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace kiln::server
