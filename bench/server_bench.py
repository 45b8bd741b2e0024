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
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import server_models  # noqa: E402  (no torch at import time)
from bench_common import last_json_object, loadavg, run, tail_reason  # noqa: E402
from server_models import MODELS, VARIANTS  # noqa: E402
from server_report import (CSV_FIELDS, GRPC_FLOOR, build_markdown, median,  # noqa: E402
                           perf_analyzer_version)



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
    ap.add_argument("--protocol", choices=("grpc", "http"), default="grpc",
                    help="what perf_analyzer speaks to the server (gRPC on :8001's role, or\n"
                         "HTTP/REST on :8000's)")
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


# --- the server --------------------------------------------------------------


class Server:
    """One kiln-server process serving one variant on free ports."""

    def __init__(self, args, variant: str, log_path: str):
        self.grpc_port, http_port, metrics_port = free_ports(3)
        self.grpc_url = f"127.0.0.1:{self.grpc_port}"
        # What perf_analyzer talks to; readiness is always asked over gRPC.
        self.url = f"127.0.0.1:{http_port}" if args.protocol == "http" else self.grpc_url
        self.variant = variant
        self.log_path = log_path
        self.cmd = [args.server, f"--model-repository={os.path.abspath(args.repo)}",
                    "--model-control-mode=explicit", f"--load-model={variant}",
                    f"--grpc-port={self.grpc_port}", "--grpc-address=127.0.0.1",
                    f"--http-port={http_port}", "--http-address=127.0.0.1",
                    f"--metrics-port={metrics_port}",
                    f"--allow-http={'true' if args.protocol == 'http' else 'false'}",
                    "--allow-metrics=false",
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

        client = grpcclient.InferenceServerClient(self.grpc_url)
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
    cmd = [args.perf_analyzer, "-m", variant, "-u", server.url, "-i", args.protocol,
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




def measure_grpc_floor(args, server: "Server") -> dict:
    """A no-op RPC (ServerLive) beside ModelInfer, one C++ client, one request
    at a time: the transport floor every server on this machine pays."""
    spec = MODELS["mlp"]
    tool = os.path.join(os.path.dirname(args.server), "kiln-grpc-floor")
    cmd = [tool, "--url", server.grpc_url, "--model", "mlp",
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
