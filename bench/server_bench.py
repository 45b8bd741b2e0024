#!/usr/bin/env python3
"""The server load bench: perf_analyzer against kiln-server over gRPC, beside
the same model run in-process by the engine alone. One Markdown table.

Run through scripts/bench-server, which installs perf_analyzer and builds the
server first. This script:
  1. writes the model repository (bench/server_models.py, cached): per model
     the variants <m>, <m>_batch, <m>_batch_x2, <m>_x2,
  2. measures the in-process ceiling: build/kiln-compile on the model at batch
     sizes 1, 2, 4, ... max_batch_size (throughput = batch / plan latency),
  3. per variant: starts build/kiln-server on free ports with only that
     variant loaded, waits until it is ready, and per concurrency level runs a
     short warm-up pass (the engine compiles a plan on the first request of
     each shape) then perf_analyzer's measurement, `--repeats` times,
  4. writes the table, the target checks (PASS/FAIL) and the footnotes to
     --out and prints it.

A figure that cannot be had (a server that does not start, a perf_analyzer
run that fails) is "n/a [k]" with footnote k giving the reason; it never
stops the table.
"""

import argparse
import csv
import datetime
import io
import json
import os
import platform
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import server_models  # noqa: E402  (no torch at import time)
from server_models import MODELS, VARIANTS  # noqa: E402

# The targets.
MLP_BATCHING_RATIO = 4.0      # mlp_batch / mlp throughput at concurrency 32
RESNET_CEILING_SHARE = 0.90   # best served batched resnet18 / in-process best
GRPC_OVERHEAD_US = 100.0      # mlp p50 at concurrency 1 - in-process batch-1 latency
TARGET_CONCURRENCY = 32


def log(msg: str) -> None:
    print(f"bench-server: {msg}", file=sys.stderr, flush=True)


def csv_list(text: str, cast=str) -> List:
    return [cast(x.strip()) for x in text.split(",") if x.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    today = datetime.date.today().isoformat()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", default="resnet18,mlp",
                    help=f"comma-separated, of: {', '.join(MODELS)} (default resnet18,mlp)")
    ap.add_argument("--variants", default="",
                    help="comma-separated variants to run, of: plain, _batch, _batch_x2, _x2 "
                         "(default: all four)")
    ap.add_argument("--concurrency", default="1,2,4,8,16,32,64")
    ap.add_argument("--duration-ms", type=int, default=5000,
                    help="perf_analyzer measurement window (-p), ms")
    ap.add_argument("--stability", type=float, default=10.0,
                    help="perf_analyzer -s: the last 3 windows within this %% of each other")
    ap.add_argument("--max-trials", type=int, default=10, help="perf_analyzer -r")
    ap.add_argument("--warmup-requests", type=int, default=-1,
                    help="requests of the warm-up pass before each concurrency level c "
                         "(default: max(50, 10*c); --quick: max(20, 4*c); 0: none)")
    ap.add_argument("--repeats", type=int, default=1,
                    help="perf_analyzer runs per (variant, concurrency); the table shows medians")
    ap.add_argument("--sync", action="store_true",
                    help="perf_analyzer's synchronous mode (a thread per request) instead of --async")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                    help="kiln-compile --threads for the in-process ceiling (default: all CPUs)")
    ap.add_argument("--engine-batches", default="",
                    help="batch sizes for the in-process ceiling (default: 1, 2, 4, ... max_batch_size)")
    ap.add_argument("--engine-runs", type=int, default=0,
                    help="kiln-compile --runs (default: per model, 500 mlp, 20 resnet18)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: mlp only, concurrency 1,8, 1 s windows, short warm-up; "
                         "explicit flags still win")
    ap.add_argument("--out", default="",
                    help=f"default bench/results/{today}-server.md; with --quick "
                         f"build/server_bench/{today}-server-quick.md (a smoke run is no result)")
    ap.add_argument("--repo", default=os.path.join("build", "server_bench_repo"))
    ap.add_argument("--work-dir", default=os.path.join("build", "server_bench"),
                    help="server logs, perf_analyzer CSVs and outputs, input data")
    ap.add_argument("--server", default=os.path.join("build", "kiln-server"))
    ap.add_argument("--kiln-compile", default=os.path.join("build", "kiln-compile"))
    ap.add_argument("--perf-analyzer", default=os.path.join(".venv", "bin", "perf_analyzer"))
    ap.add_argument("--server-args", default="",
                    help="extra kiln-server flags, one string (e.g. '--intra-op-threads=1')")
    ap.add_argument("--start-timeout", type=int, default=300, help="seconds for a variant to be READY")
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds allowed to one perf_analyzer or kiln-compile run")
    ap.add_argument("--no-build", action="store_true",
                    help="(scripts/bench-server) skip ./scripts/build; ignored here")
    ap.add_argument("--command-line", default="",
                    help="the command line to record in the header (set by scripts/bench-server)")
    args = ap.parse_args(argv)
    given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:])}
    if not args.out:
        args.out = (os.path.join("build", "server_bench", f"{today}-server-quick.md") if args.quick
                    else os.path.join("bench", "results", f"{today}-server.md"))
    if args.quick:
        quick = {"--models": ("models", "mlp"), "--concurrency": ("concurrency", "1,8"),
                 "--duration-ms": ("duration_ms", 1000),
                 "--max-trials": ("max_trials", 6), "--stability": ("stability", 20.0)}
        for flag, (dest, value) in quick.items():
            if flag not in given:
                setattr(args, dest, value)
    return args


# --- small tools -------------------------------------------------------------


def run(cmd: List[str], timeout: int, env=None) -> Tuple[int, str, str]:
    """Runs cmd; returns (rc, stdout, stderr). A time-out is rc 124."""
    try:
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return 124, out, err + f"\ntimed out after {timeout}s"


def last_json_object(text: str) -> Optional[dict]:
    """The last line-initial JSON object in text (tolerates log lines around it)."""
    lines = text.strip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].lstrip().startswith("{"):
            continue
        for candidate in ("\n".join(lines[i:]), lines[i]):
            try:
                obj = json.loads(candidate)
                if isinstance(obj, dict):
                    return obj
            except ValueError:
                continue
    return None


def tail_reason(rc: int, text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if rc == 124:
        return last or "timed out"
    if rc < 0:
        return f"killed by signal {-rc}" + (f": {last}" if last else "")
    return f"exit {rc}" + (f": {last}" if last else "")


def free_ports(n: int) -> List[int]:
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


def median(values: List[float]) -> Optional[float]:
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


# --- the in-process ceiling --------------------------------------------------


def engine_batches(args, spec) -> List[int]:
    if args.engine_batches:
        return [b for b in csv_list(args.engine_batches, int) if 1 <= b <= spec.max_batch_size]
    return server_models.buckets(spec.max_batch_size)


def measure_engine(args, name: str) -> Dict[int, dict]:
    """{batch: kiln-compile's JSON (+ throughput) or {"error"}} for one model."""
    spec = MODELS[name]
    model_pt = os.path.join(args.repo, name, "1", "model.pt")
    runs = args.engine_runs or spec.engine_runs
    results: Dict[int, dict] = {}
    if not os.path.exists(args.kiln_compile):
        return {1: {"error": f"{args.kiln_compile} missing"}}
    for batch in engine_batches(args, spec):
        cmd = [args.kiln_compile, model_pt, "--input", server_models.kiln_input(spec, batch),
               "--runs", str(runs), "--threads", str(args.threads), "--json"]
        rc, out, err = run(cmd, args.timeout)
        obj = last_json_object(out)
        if rc != 0 or obj is None or not isinstance(obj.get("median_ms"), (int, float)):
            reason = tail_reason(rc, err) if rc != 0 else "no JSON with median_ms in kiln-compile's output"
            results[batch] = {"error": f"kiln-compile {name} batch {batch}: {reason}"}
            log(results[batch]["error"])
            continue
        obj["throughput"] = batch / (obj["median_ms"] / 1e3)
        results[batch] = obj
        log(f"in-process {name} batch {batch}: {obj['median_ms'] * 1e3:.0f} µs "
            f"({obj['throughput']:.0f} infer/s, plan {obj.get('plan_precision')})")
    return results


def engine_best(engine: Dict[int, dict]) -> Optional[Tuple[int, float]]:
    ok = [(b, r["throughput"]) for b, r in engine.items() if "throughput" in r]
    return max(ok, key=lambda x: x[1]) if ok else None


# --- the server --------------------------------------------------------------


class Server:
    """One kiln-server process serving one variant on free ports."""

    def __init__(self, args, variant: str, log_path: str):
        self.grpc_port, http_port, metrics_port = free_ports(3)
        self.url = f"127.0.0.1:{self.grpc_port}"
        self.variant = variant
        self.log_path = log_path
        self.cmd = [args.server, f"--model-repository={os.path.abspath(args.repo)}",
                    "--model-control-mode=explicit", f"--load-model={variant}",
                    f"--grpc-port={self.grpc_port}", "--grpc-address=127.0.0.1",
                    f"--http-port={http_port}", f"--metrics-port={metrics_port}",
                    "--allow-http=false", "--allow-metrics=false",
                    *shlex.split(args.server_args)]
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        with open(self.log_path, "wb") as f:
            f.write(("$ " + " ".join(shlex.quote(c) for c in self.cmd) + "\n").encode())
            f.flush()
            self.proc = subprocess.Popen(self.cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def log_tail(self) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith("$ ")]
            return lines[-1] if lines else "(no output)"
        except OSError:
            return ""

    def wait_ready(self, timeout_s: int) -> Optional[str]:
        """None when the variant is READY, else why not."""
        import tritonclient.grpc as grpcclient

        client = grpcclient.InferenceServerClient(self.url)
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"kiln-server exited with {self.proc.returncode}: {self.log_tail()}"
            try:
                if client.is_server_live() and client.is_model_ready(self.variant):
                    return None
            except Exception as e:  # not serving yet
                last = str(e).splitlines()[0] if str(e) else type(e).__name__
            time.sleep(0.2)
        return f"'{self.variant}' not ready after {timeout_s} s ({last or self.log_tail()})"

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# --- perf_analyzer ------------------------------------------------------------

CSV_FIELDS = {"throughput": "Inferences/Second", "p50": "p50 latency", "p90": "p90 latency",
              "p99": "p99 latency", "queue": "Server Queue", "infer": "Server Compute Infer"}


def write_input_data(args, name: str) -> str:
    """A directory with one batch-1 input of seeded normal values (raw float32,
    perf_analyzer's directory format). perf_analyzer's own "random" data are
    random bit patterns: huge values, NaNs and denormals, not an image."""
    import numpy as np

    spec = MODELS[name]
    path = os.path.join(args.work_dir, "inputs", name)
    os.makedirs(path, exist_ok=True)
    data = np.random.default_rng(spec.seed).standard_normal(spec.input_dims, dtype=np.float32)
    data.tofile(os.path.join(path, spec.input_name))
    return path


def perf_analyzer_cmd(args, server: Server, variant: str, concurrency: int, input_dir: str,
                      window_ms: int, stability: float, trials: int,
                      csv_path: Optional[str]) -> List[str]:
    cmd = [args.perf_analyzer, "-m", variant, "-u", server.url, "-i", "grpc",
           "--concurrency-range", f"{concurrency}:{concurrency}", "-b", "1",
           "-p", str(window_ms), "-s", str(stability), "-r", str(trials),
           "--input-data", input_dir,
           "-v"]  # prints each window: the fallback when none is stable reads them
    if not args.sync:
        cmd.append("--async")
    if csv_path:
        cmd += ["-f", csv_path]
    return cmd


def parse_passes(text: str) -> List[Tuple[float, float]]:
    """(throughput, avg latency µs) of each window perf_analyzer printed."""
    return [(float(t), float(l)) for t, l in re.findall(
        r"Pass \[\d+\] throughput: ([\d.]+) infer/sec\. Avg latency: (\d+) usec", text)]


def parse_server_counts(text: str) -> Optional[float]:
    """Average batch size the server ran during the reported measurement."""
    inf = re.search(r"Server:\s*\n\s*Inference count: (\d+)\s*\n\s*Execution count: (\d+)", text)
    if inf and int(inf.group(2)) > 0:
        return int(inf.group(1)) / int(inf.group(2))
    return None


def measure_point(args, server: Server, variant: str, concurrency: int, input_dir: str,
                  stem: str) -> dict:
    """One perf_analyzer measurement. When perf_analyzer cannot get 3 stable
    windows, it is run again with 3x the stability tolerance; when that fails
    too, the last windows' throughput stands in and the percentiles are n/a."""
    attempts = [args.stability, min(args.stability * 3, 100.0)]
    notes = []
    for i, stability in enumerate(attempts):
        csv_path = f"{stem}.csv"
        if os.path.exists(csv_path):
            os.remove(csv_path)
        cmd = perf_analyzer_cmd(args, server, variant, concurrency, input_dir, args.duration_ms,
                                stability, args.max_trials, csv_path)
        rc, out, err = run(cmd, args.timeout)
        with open(f"{stem}.out", "a") as f:
            f.write("$ " + " ".join(shlex.quote(c) for c in cmd) + f"\n{out}{err}\n(rc {rc})\n")
        if rc == 0 and os.path.exists(csv_path):
            with open(csv_path) as f:
                rows = list(csv.DictReader(io.StringIO(f.read())))
            if rows:
                row = rows[0]
                point = {k: float(row[v]) for k, v in CSV_FIELDS.items()
                         if row.get(v) not in (None, "")}
                point["avg_batch"] = parse_server_counts(out)
                if i > 0:
                    point["note"] = (f"perf_analyzer: not stable within {args.stability:g} %; "
                                     f"stable within {stability:g} %")
                return point
        if server.proc.poll() is not None:
            return {"error": f"kiln-server exited with {server.proc.returncode}: "
                             f"{server.log_tail()}"}
        text = out + err
        notes.append(tail_reason(rc, text))
        if "stable measurement" not in text:
            break  # not a stability problem: another try will not help
        passes = parse_passes(text)
    else:
        if passes:
            last = passes[-3:]
            return {"throughput": median([t for t, _ in last]),
                    "note": f"perf_analyzer: not stable within {attempts[-1]:g} % in "
                            f"{args.max_trials} windows; median throughput of the last "
                            f"{len(last)} windows, no percentiles"}
    return {"error": f"perf_analyzer: {notes[-1] if notes else 'failed'}"}


def warmup_requests(args, concurrency: int) -> int:
    if args.warmup_requests >= 0:
        return args.warmup_requests
    return max(20, 4 * concurrency) if args.quick else max(50, 10 * concurrency)


def warm_up(args, server: Server, variant: str, concurrency: int, input_dir: str,
            stem: str) -> None:
    """A pass whose figures are thrown away: the engine builds a plan on the
    first request of each shape (each batch bucket the batcher reaches at this
    concurrency), which must not land in the measurement. A request count, not
    a time window: perf_analyzer waits for every request, however long the
    builds they trigger take."""
    count = warmup_requests(args, concurrency)
    if count <= 0:
        return
    cmd = perf_analyzer_cmd(args, server, variant, concurrency, input_dir, args.duration_ms,
                            1000.0, 3, None)
    cmd += ["--request-count", str(count)]
    rc, out, err = run(cmd, args.timeout)
    with open(f"{stem}.warmup.out", "a") as f:
        f.write("$ " + " ".join(shlex.quote(c) for c in cmd) + f"\n{out}{err}\n(rc {rc})\n")


# variant -> kiln-grpc-floor's figures (measured on the mlp variant at c=1).
GRPC_FLOOR: Dict[str, dict] = {}


def measure_grpc_floor(args, server: "Server") -> dict:
    """A no-op RPC (ServerLive) beside ModelInfer, one C++ client, one request
    at a time: the transport floor every server on this machine pays."""
    spec = MODELS["mlp"]
    tool = os.path.join(os.path.dirname(args.server), "kiln-grpc-floor")
    cmd = [tool, "--url", server.url, "--model", "mlp",
           "--input", f"{spec.input_name}:1x" + "x".join(map(str, spec.input_dims))]
    rc, out, err = run(cmd, args.timeout)
    found = last_json_object(out) if rc == 0 else None
    return found or {"error": tail_reason(rc, out + err)}


def bench_variant(args, variant: str, concurrencies: List[int], input_dir: str) -> Dict[int, dict]:
    """{concurrency: {"runs": [point, ...]} or {"error"}}."""
    logs = os.path.join(args.work_dir, "logs")
    os.makedirs(logs, exist_ok=True)
    server = Server(args, variant, os.path.join(logs, f"{variant}.server.log"))
    server.start()
    try:
        why = server.wait_ready(args.start_timeout)
        if why:
            log(f"{variant}: {why}")
            return {c: {"error": why} for c in concurrencies}
        results: Dict[int, dict] = {}
        for c in concurrencies:
            stem = os.path.join(logs, f"{variant}.c{c}")
            for suffix in (".out", ".warmup.out"):
                if os.path.exists(stem + suffix):
                    os.remove(stem + suffix)
            warm_up(args, server, variant, c, input_dir, stem)
            runs = []
            for r in range(args.repeats):
                point = measure_point(args, server, variant, c, input_dir,
                                      stem + (f".r{r}" if args.repeats > 1 else ""))
                runs.append(point)
                if "error" in point:
                    log(f"{variant} c={c}: {point['error']}")
                    break
                log(f"{variant} c={c}: {point.get('throughput', 0):.0f} infer/s, p50 "
                    f"{point.get('p50', float('nan')):.0f} µs, p99 {point.get('p99', float('nan')):.0f} µs"
                    + (f", avg batch {point['avg_batch']:.2f}" if point.get("avg_batch") else ""))
            results[c] = {"runs": runs}
            if c == 1 and variant == "mlp":
                GRPC_FLOOR[variant] = measure_grpc_floor(args, server)
            if server.proc.poll() is not None:
                why = f"kiln-server exited with {server.proc.returncode}: {server.log_tail()}"
                for rest in concurrencies[concurrencies.index(c) + 1:]:
                    results[rest] = {"error": why}
                break
        return results
    finally:
        server.stop()


def summarize(cell: dict) -> dict:
    """Medians over the repeats; the first error or note is kept."""
    if "error" in cell:
        return cell
    runs = cell.get("runs", [])
    errors = [r for r in runs if "error" in r]
    good = [r for r in runs if "error" not in r]
    if not good:
        return errors[0] if errors else {"error": "not run"}
    out = {k: median([r.get(k) for r in good]) for k in list(CSV_FIELDS) + ["avg_batch"]}
    out["n"] = len(good)
    notes = [r["note"] for r in good if "note" in r]
    if notes:
        out["note"] = notes[0]
    return out


# --- the table ---------------------------------------------------------------


class Notes:
    """Footnotes: each distinct reason gets one number."""

    def __init__(self):
        self.reasons: List[str] = []

    def num(self, reason: str) -> int:
        reason = " ".join(reason.split())
        if reason not in self.reasons:
            self.reasons.append(reason)
        return self.reasons.index(reason) + 1

    def na(self, reason: str) -> str:
        return f"n/a [{self.num(reason)}]"

    def markdown(self) -> str:
        return "\n".join(f"[{i + 1}] {r}" for i, r in enumerate(self.reasons))


def cpu_info() -> Tuple[str, str]:
    model, cores = platform.processor() or "unknown", str(os.cpu_count())
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = {}
        for ln in out.splitlines():
            if ":" in ln:
                k, v = ln.split(":", 1)
                fields[k.strip()] = v.strip()
        model = fields.get("Model name", model)
        cores = fields.get("CPU(s)", cores)
        if "Core(s) per socket" in fields:
            sockets = int(fields.get("Socket(s)", "1") or 1)
            cores = f"{cores} CPUs ({int(fields['Core(s) per socket']) * sockets} cores)"
    except (OSError, ValueError):
        pass
    return model, cores


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def perf_analyzer_version(args) -> str:
    rc, out, err = run([args.perf_analyzer, "--version"], 60)
    m = re.search(r"Version ([\w.]+)", out + err)
    return m.group(1) if m else f"unknown ({tail_reason(rc, err)})"


def git_revision() -> str:
    rc, out, _ = run(["git", "rev-parse", "--short", "HEAD"], 30)
    if rc != 0:
        return "unknown"
    rc2, dirty, _ = run(["git", "status", "--porcelain", "--untracked-files=no"], 30)
    return out.strip() + (" + uncommitted changes" if rc2 == 0 and dirty.strip() else "")


def fmt_num(x: Optional[float]) -> str:
    if not isinstance(x, (int, float)):
        return "n/a"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_pct(x: float) -> str:
    pct = 100 * x
    return f"{pct:.0f} %" if pct >= 10 else f"{pct:.2g} %"


def served_cell(point: dict, key: str, notes: Notes) -> str:
    if "error" in point:
        return notes.na(point["error"])
    v = point.get(key)
    if v is None:
        return notes.na(point.get("note", f"no {key} in perf_analyzer's report"))
    cell = fmt_num(v)
    if key == "throughput" and "note" in point:
        cell += f" [{notes.num(point['note'])}]"
    return cell


def build_markdown(args, names: List[str], variants: List[str], concurrencies: List[int],
                   engine: Dict[str, Dict[int, dict]], served: Dict[str, Dict[int, dict]],
                   started: str, elapsed_s: float, load: str, pa_version: str) -> str:
    notes = Notes()
    cpu, cores = cpu_info()
    lines = [
        "# Server bench",
        "",
        f"- Command: `{args.command_line or ' '.join(shlex.quote(a) for a in sys.argv)}`",
        f"- Date: {started} (took {elapsed_s / 60:.1f} min); kiln {git_revision()}",
        f"- CPU: {cpu}, {cores}; load average (1/5/15 min) at the start {load}, at the end "
        f"{loadavg()}",
        f"- Client: perf_analyzer {pa_version} over gRPC on 127.0.0.1, "
        f"{'synchronous' if args.sync else 'asynchronous'} requests of batch 1, the same "
        "seeded normal input every request; a point is the average of the last 3 windows of "
        f"{args.duration_ms} ms that agree within {args.stability:g} % (at most "
        f"{args.max_trials} windows), after a warm-up pass of "
        + ("max(20, 4×c)" if args.quick else "max(50, 10×c)" if args.warmup_requests < 0
           else str(args.warmup_requests)) + " requests at the same concurrency c" + (f"; median of {args.repeats} such runs" if args.repeats > 1 else "") + ".",
        f"- Server: {args.server}, one process per variant (only that variant loaded), "
        "default engine options (level 3, auto precision, a plan per input shape); "
        "intra-op threads = cores / instances. Client and server share the machine's cores.",
        f"- In-process ceiling: `{args.kiln_compile} model.pt --input Bx... --threads {args.threads}` "
        "(auto precision), the plan's median latency at batch B; throughput = B / latency. "
        "No gRPC, no client, no queue: what the server should approach.",
        "- Variants: `<m>` no dynamic batching, 1 instance; `_batch` dynamic batching, 1 instance; "
        "`_batch_x2` dynamic batching, 2 instances; `_x2` no batching, 2 instances. "
        "Avg batch = the server's inference count / execution count during the measurement.",
        "",
    ]

    targets = target_checks(names, variants, concurrencies, engine, served)
    lines += ["## Targets", ""] + [f"- {t}" for t in targets] + [""]

    for name in names:
        spec = MODELS[name]
        eng = engine.get(name, {})
        best = engine_best(eng)
        lines += [f"## {name}", "",
                  f"{spec.description}; input `{spec.input_name}` [{', '.join(map(str, spec.input_dims))}], "
                  f"max_batch_size {spec.max_batch_size}, batching variants: "
                  f"max_queue_delay_microseconds {spec.queue_delay_us} (the server's default "
                  "plan buckets).", "",
                  "In-process engine (the ceiling):", "",
                  "| batch | plan latency µs | throughput infer/s | plan precision |",
                  "|---:|---:|---:|---|"]
        for b in sorted(eng):
            r = eng[b]
            if "error" in r:
                lines.append(f"| {b} | {notes.na(r['error'])} | | |")
            else:
                lines.append(f"| {b} | {fmt_num(r['median_ms'] * 1e3)} | {fmt_num(r['throughput'])} "
                             f"| {r.get('plan_precision', '?')} |")
        lines += [""]
        if best:
            lines += [f"Best in-process throughput: **{fmt_num(best[1])} infer/s** at batch {best[0]}.", ""]
        lines += ["Served (perf_analyzer, gRPC):", "",
                  "| variant | concurrency | throughput infer/s | p50 µs | p90 µs | p99 µs | "
                  "avg batch | server queue / infer µs | % of in-process best |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for v in variants:
            vname = name + v
            for c in concurrencies:
                p = summarize(served.get(vname, {}).get(c, {"error": "not run"}))
                if "error" in p:
                    lines.append(f"| {vname} | {c} | {notes.na(p['error'])} | | | | | | |")
                    continue
                share = (fmt_pct(p["throughput"] / best[1])
                         if best and p.get("throughput") else "n/a")
                qi = (f"{fmt_num(p.get('queue'))} / {fmt_num(p.get('infer'))}"
                      if p.get("infer") is not None else "n/a")
                lines.append(
                    f"| {vname} | {c} | {served_cell(p, 'throughput', notes)} | "
                    f"{served_cell(p, 'p50', notes)} | {served_cell(p, 'p90', notes)} | "
                    f"{served_cell(p, 'p99', notes)} | {fmt_num(p.get('avg_batch'))} | {qi} | {share} |")
        lines += [""]

    if notes.reasons:
        lines += ["## Notes", "", notes.markdown(), ""]
    lines += ["Logs, perf_analyzer's output and CSVs per point: "
              f"`{os.path.join(args.work_dir, 'logs')}/`. On a shared 2-core machine the figures "
              "move with other load: compare within one table.", ""]
    return "\n".join(lines)


def target_checks(names, variants, concurrencies, engine, served) -> List[str]:
    out = []

    def point(vname: str, c: int) -> dict:
        return summarize(served.get(vname, {}).get(c, {"error": "not run"}))

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    # 1. mlp: batching multiplies throughput at concurrency 32.
    title = (f"mlp: dynamic batching multiplies throughput ≥ {MLP_BATCHING_RATIO:g}× at "
             f"concurrency {TARGET_CONCURRENCY} (mlp_batch vs mlp)")
    if "mlp" not in names:
        out.append(f"n/a — {title}: mlp not run")
    elif TARGET_CONCURRENCY not in concurrencies or not {"", "_batch"} <= set(variants):
        out.append(f"n/a — {title}: needs concurrency {TARGET_CONCURRENCY} and variants mlp, mlp_batch")
    else:
        a, b = point("mlp", TARGET_CONCURRENCY), point("mlp_batch", TARGET_CONCURRENCY)
        if a.get("throughput") and b.get("throughput"):
            ratio = b["throughput"] / a["throughput"]
            extra = ""
            a2, b2 = point("mlp_x2", TARGET_CONCURRENCY), point("mlp_batch_x2", TARGET_CONCURRENCY)
            if a2.get("throughput") and b2.get("throughput"):
                extra = f"; 2 instances: {b2['throughput'] / a2['throughput']:.2f}×"
            out.append(f"{verdict(ratio >= MLP_BATCHING_RATIO)} — {title}: "
                       f"{fmt_num(b['throughput'])} / {fmt_num(a['throughput'])} infer/s = "
                       f"**{ratio:.2f}×**{extra}")
        else:
            out.append(f"n/a — {title}: {a.get('error') or b.get('error') or 'no throughput'}")

    # 2. resnet18: served batched throughput vs the in-process best.
    title = (f"resnet18: served throughput with batching ≥ {RESNET_CEILING_SHARE:.0%} of the "
             "in-process engine's best batched throughput")
    best = engine_best(engine.get("resnet18", {})) if "resnet18" in names else None
    batch_variants = [v for v in variants if v.startswith("_batch")]
    if "resnet18" not in names:
        out.append(f"n/a — {title}: resnet18 not run")
    elif not best or not batch_variants:
        out.append(f"n/a — {title}: " + ("no in-process figure" if not best else "no batching variant run"))
    else:
        cands = [(point("resnet18" + v, c).get("throughput") or 0, "resnet18" + v, c)
                 for v in batch_variants for c in concurrencies]
        tp, vname, c = max(cands)
        if tp:
            share = tp / best[1]
            out.append(f"{verdict(share >= RESNET_CEILING_SHARE)} — {title}: best served "
                       f"{fmt_num(tp)} infer/s ({vname}, concurrency {c}) vs in-process "
                       f"{fmt_num(best[1])} infer/s (batch {best[0]}) = **{share:.0%}**")
        else:
            out.append(f"n/a — {title}: no served throughput")

    # 3. mlp: gRPC overhead at concurrency 1.
    title = (f"mlp: p50 gRPC overhead at concurrency 1 (served p50 of `mlp` − in-process "
             f"batch-1 latency) ≤ {GRPC_OVERHEAD_US:g} µs")
    eng1 = engine.get("mlp", {}).get(1, {}) if "mlp" in names else {}
    if "mlp" not in names:
        out.append(f"n/a — {title}: mlp not run")
    elif 1 not in concurrencies or "" not in variants:
        out.append(f"n/a — {title}: needs concurrency 1 and variant mlp")
    else:
        p = point("mlp", 1)
        if p.get("p50") and isinstance(eng1.get("median_ms"), (int, float)):
            inproc = eng1["median_ms"] * 1e3
            overhead = p["p50"] - inproc
            line = (f"{verdict(overhead <= GRPC_OVERHEAD_US)} — {title}: {fmt_num(p['p50'])} − "
                    f"{fmt_num(inproc)} = **{overhead:.0f} µs**")
            floor = GRPC_FLOOR.get("mlp", {})
            if "live_p50_us" in floor:
                line += (f". Transport floor on this machine (kiln-grpc-floor, one C++ client, one "
                         f"request at a time): a no-op RPC (ServerLive) p50 "
                         f"{floor['live_p50_us']:.0f} µs, ModelInfer on mlp p50 "
                         f"{floor['infer_p50_us']:.0f} µs: the inference path adds "
                         f"{floor['infer_p50_us'] - floor['live_p50_us']:.0f} µs above the floor")
            elif floor.get("error"):
                line += f" (transport floor not measured: {floor['error']})"
            out.append(line)
        else:
            out.append(f"n/a — {title}: {p.get('error') or eng1.get('error') or 'no p50'}")
    return out


# --- main ----------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    os.chdir(REPO)
    names = csv_list(args.models)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; known: {', '.join(MODELS)}")
    all_suffixes = [v.suffix for v in VARIANTS]
    variants = all_suffixes if not args.variants else [
        "" if s.strip() == "plain" else s.strip() for s in args.variants.split(",")]
    bad = [s for s in variants if s not in all_suffixes]
    if bad:
        raise SystemExit(f"unknown variant suffix(es) {bad}; known: {all_suffixes}")
    concurrencies = csv_list(args.concurrency, int)
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    t0 = time.time()
    load = loadavg()
    os.makedirs(args.work_dir, exist_ok=True)

    server_models.generate(server_models.Path(args.repo), quiet=False)
    pa_version = perf_analyzer_version(args)
    log(f"perf_analyzer {pa_version}; models {names}; concurrency {concurrencies}")

    engine: Dict[str, Dict[int, dict]] = {}
    for name in names:
        engine[name] = measure_engine(args, name)

    served: Dict[str, Dict[int, dict]] = {}
    for name in names:
        input_dir = write_input_data(args, name)
        for suffix in variants:
            vname = name + suffix
            log(f"{vname}: serving")
            served[vname] = bench_variant(args, vname, concurrencies, input_dir)

    text = build_markdown(args, names, variants, concurrencies, engine, served, started,
                          time.time() - t0, load, pa_version)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    with open(os.path.join(args.work_dir, "results.json"), "w") as f:
        json.dump({"engine": {n: {str(b): r for b, r in e.items()} for n, e in engine.items()},
                   "served": {v: {str(c): r for c, r in s.items()} for v, s in served.items()}},
                  f, indent=1)
    print(text)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
