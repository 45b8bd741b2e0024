"""Fixtures that start kiln-server processes for the e2e tests.

Environment:
  KILN_SERVER     the kiln-server binary (default <repo>/build/kiln-server)
  KILN_TEST_REPO  a test model repository to use as is (default: generate one
                  with tests/models/make_repository.py --kind test into
                  <repo>/build/test_repo; cheap when it is up to date)

Each server's stdout/stderr go to a log file; the tail of the log of every
running server is attached to the report of a failing test.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tritonclient.grpc as tc

from kiln_testlib import (BROKEN_MODELS, GOOD_MODELS, REPO_ROOT, START_TIMEOUT_S,
                          STOP_TIMEOUT_S, Reference, raw_stub)

_running = []  # servers whose logs go into failure reports


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class KilnServer:
    """One kiln-server process on free ports, HTTP and metrics off.

    Extra args come last, so they override (a repeated flag keeps its last
    value): "--allow-metrics=true" serves metrics on self.metrics_port, a
    free port unless extra args choose one with --metrics-port=N."""

    def __init__(self, binary, repo, log_path, extra_args=(), http=False):
        self.grpc_port, http_port, metrics_port = free_ports(3)
        self.url = f"127.0.0.1:{self.grpc_port}"
        self.log_path = Path(log_path)
        self.args = [str(binary), f"--model-repository={repo}",
                     f"--grpc-port={self.grpc_port}", f"--http-port={http_port}",
                     f"--metrics-port={metrics_port}", "--allow-http=false",
                     "--allow-metrics=false", *extra_args]
        # Metrics: the port the last --metrics-port names.
        self.metrics_port = metrics_port
        for arg in extra_args:
            if arg.startswith("--metrics-port="):
                self.metrics_port = int(arg.split("=", 1)[1])
        # HTTP: http=True serves HTTP/REST on self.http_port (self.http_url
        # for tritonclient.http); extra args still come last.
        self.http_port = http_port
        self.http_url = f"127.0.0.1:{http_port}"
        if http:
            self.args.insert(len(self.args) - len(extra_args), "--allow-http=true")
        self.proc = None
        self.signalled = False

    def start(self):
        with open(self.log_path, "wb") as log:
            log.write(("$ " + " ".join(self.args) + "\n").encode())
            log.flush()
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        _running.append(self)
        return self

    def client(self):
        return tc.InferenceServerClient(url=self.url)

    def log_tail(self, lines=150):
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError as e:
            return f"(cannot read {self.log_path}: {e})"
        return "\n".join(text[-lines:])

    def _fail(self, why):
        # A running server's log is attached to the report by the hook below.
        if self not in _running:
            why += f"\n--- {self.log_path} (tail) ---\n{self.log_tail()}"
        pytest.fail(why, pytrace=False)

    def _check_alive(self, what):
        if self.proc.poll() is not None:
            self._fail(f"kiln-server exited with {self.proc.returncode} while {what}")

    def wait_live(self, deadline):
        client = self.client()
        while True:
            self._check_alive("starting")
            try:
                if client.is_server_live():
                    return client
            except Exception:
                pass
            if time.monotonic() > deadline:
                self._fail(f"kiln-server not live after {START_TIMEOUT_S} s")
            time.sleep(0.1)

    def wait_models(self, client, ready, settled=(), deadline=None):
        """Waits until every model in `ready` is READY and every model in
        `settled` has left LOADING (for broken models: reached UNAVAILABLE)."""
        deadline = deadline or time.monotonic() + START_TIMEOUT_S
        pending = list(ready)
        while True:
            self._check_alive("loading models")
            try:
                pending = [m for m in pending if not client.is_model_ready(m)]
                states = {}
                if settled:
                    for m in client.get_model_repository_index(as_json=False).models:
                        states.setdefault(m.name, set()).add(m.state)
                unsettled = [m for m in settled
                             if not states.get(m) or states[m] & {"LOADING", ""}]
                if not pending and not unsettled:
                    return
            except Exception as e:  # not serving the RPCs yet
                unsettled = [str(e)]
            if time.monotonic() > deadline:
                self._fail(f"models not ready after {START_TIMEOUT_S} s: "
                           f"not ready {pending}, not settled {unsettled}")
            time.sleep(0.2)

    def terminate(self):
        """Sends SIGTERM once (a second signal may mean "exit now")."""
        if not self.signalled and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.signalled = True

    def stop(self, expect_rc=0):
        """SIGTERM (unless already sent), wait, and check the exit status."""
        self.terminate()
        try:
            rc = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            self._fail(f"kiln-server did not exit within {STOP_TIMEOUT_S} s of SIGTERM")
        if self in _running:
            _running.remove(self)
        if expect_rc is not None and rc != expect_rc:
            self._fail(f"kiln-server exited with {rc}, expected {expect_rc}")
        return rc

    def kill(self):
        if self in _running:
            _running.remove(self)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in _running:
            state = "running" if server.proc.poll() is None else f"exited {server.proc.returncode}"
            report.sections.append((f"kiln-server log ({server.log_path}, {state})",
                                    server.log_tail()))


# -------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def kiln_binary():
    path = Path(os.environ.get("KILN_SERVER", REPO_ROOT / "build" / "kiln-server"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"kiln-server binary not found at {path}: build it "
                    "(cmake --build build) or set KILN_SERVER", pytrace=False)
    return path


@pytest.fixture(scope="session")
def test_repo():
    sys.path.insert(0, str(REPO_ROOT / "tests" / "models"))
    from make_repository import ensure_test_repository
    try:
        return ensure_test_repository()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def reference(test_repo):
    return Reference(test_repo)


@pytest.fixture(scope="session")
def make_server(kiln_binary, test_repo, tmp_path_factory):
    """Factory: make_server(*extra_args, repo=None, http=False) -> started
    KilnServer (http=True also serves HTTP/REST). Servers not
    stopped by the test are stopped (and their exit status checked) at the end
    of the session."""
    made = []
    log_dir = tmp_path_factory.mktemp("kiln-logs")

    def make(*extra_args, repo=None, http=False):
        server = KilnServer(kiln_binary, repo or test_repo,
                            log_dir / f"server-{len(made)}.log", extra_args, http=http)
        made.append(server)
        return server.start()

    yield make
    for server in made:
        if server.proc.poll() is None:
            server.kill()


@pytest.fixture(scope="session")
def server(make_server):
    """The default server: control mode none, the whole test repository,
    default (strict) readiness. SIGTERM at the end must exit 0."""
    # --exit-on-error defaults to true (as in Triton): the broken models would
    # stop the server at startup.
    srv = make_server("--exit-on-error=false")
    deadline = time.monotonic() + START_TIMEOUT_S
    client = srv.wait_live(deadline)
    srv.wait_models(client, GOOD_MODELS, settled=BROKEN_MODELS, deadline=deadline)
    yield srv
    srv.stop(expect_rc=0)


@pytest.fixture(scope="session")
def client(server):
    return server.client()


@pytest.fixture(scope="session")
def stub(server):
    channel, stub = raw_stub(server.url)
    yield stub
    channel.close()
