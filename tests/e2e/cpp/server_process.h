// Runs build/kiln-server as a child process for end-to-end tests: picks a
// free gRPC port, waits until the server answers ServerLive, and stops it
// with a signal, reporting its exit status.
#ifndef KILN_TESTS_E2E_CPP_SERVER_PROCESS_H_
#define KILN_TESTS_E2E_CPP_SERVER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace kiln::testing {

class ServerProcess {
 public:
  // Starts `binary` with `args` plus --grpc-port=<free port> and the HTTP
  // and metrics endpoints off. Output goes to a log file (see log()).
  ServerProcess(const std::string& binary, std::vector<std::string> args);
  ~ServerProcess();

  // True once ServerLive answers, false after `timeout_s` or if the process
  // died.
  bool WaitUntilLive(double timeout_s);

  std::string address() const;  // "127.0.0.1:<port>"
  int port() const { return port_; }

  // Sends `signal_number` and waits; returns the exit code (128+signal when
  // it died from a signal, -1 on timeout).
  int Stop(int signal_number, double timeout_s);

  // Everything the server printed so far.
  std::string log() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_;
};

// A port that was free a moment ago.
int FreePort();

}  // namespace kiln::testing

#endif  // KILN_TESTS_E2E_CPP_SERVER_PROCESS_H_
