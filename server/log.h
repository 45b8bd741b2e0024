// Process-wide logging for the server: one line per event on stderr, with a
// severity letter, wall-clock time and thread id, as tritonserver prints them.
// Thread safe: each line is written with a single write call.
#ifndef KILN_SERVER_LOG_H_
#define KILN_SERVER_LOG_H_

#include <string_view>

namespace kiln::server {

enum class LogSeverity { kInfo, kWarning, kError, kVerbose };

// Lines of kVerbose severity are printed only when the level is >= 1.
void SetLogVerbosity(int level);
int LogVerbosity();

void Log(LogSeverity severity, std::string_view message);
inline void LogInfo(std::string_view m) { Log(LogSeverity::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogSeverity::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogSeverity::kError, m); }
inline void LogVerbose(std::string_view m) { Log(LogSeverity::kVerbose, m); }

}  // namespace kiln::server

#endif  // KILN_SERVER_LOG_H_
