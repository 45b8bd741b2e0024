#!/usr/bin/env python3
"""Times one bench model under the reference runtimes Kiln is measured against.

Columns (each optional with --columns):
  torchscript  (a) torch.jit.freeze of the saved module, run by LibTorch
  ofi          (b) torch.jit.optimize_for_inference of the same module
  ort          (c) ONNX Runtime, CPUExecutionProvider, on model.onnx
  openvino     (d) OpenVINO CPU plugin, fp32, on model.onnx
  compile      (g) torch.compile (inductor, default mode) of the eager module
  compile_max  (h) torch.compile(mode="max-autotune") of the eager module
  openvino_bf16 (i) OpenVINO CPU plugin, INFERENCE_PRECISION_HINT=bf16

(e) and (f) are Kiln's, timed by engine_bench.py. The torch.compile columns
rebuild the eager module with bench_models.build_model(<model name>), the
seeded weights model.pt was scripted from (their accuracy against (a) shows
it); their first call compiles and is reported as load_s, apart from the
warm-up runs that follow it.

All columns use the same seeded input, the same thread count (2 by default),
exclude warm-up runs, and report the median of --runs timed runs. Each
column's outputs are compared with (a)'s: max abs error and cosine
similarity. When (a) does not run in this process its outputs come from
<model_dir>/reference_outputs.pt, which a run of (a) leaves behind.

A column that cannot run (package missing, no ONNX export, a runtime error)
is reported as {"error": "..."}; the script itself fails only when it cannot
read the model directory.

Prints one JSON object:
  {"model": ..., "threads": 2, "runs": 20, "warmup": 5,
   "columns": {"torchscript": {"median_ms", "min_ms", "mean_ms", "load_s"}, ...
               "ort": {"median_ms", ..., "accuracy": {"max_abs_error", "cosine"}},
               "openvino": {"error": "openvino not installed"}}}

Usage: reference_bench.py MODEL_DIR [--threads 2] [--runs 20] [--warmup 5]
                          [--columns torchscript,ofi,ort,openvino,compile,
                                     compile_max,openvino_bf16]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from typing import Callable, Dict, List, Optional, Sequence

ALL_COLUMNS = ["torchscript", "ofi", "ort", "openvino", "compile", "compile_max", "openvino_bf16"]
ONNX_COLUMNS = ("ort", "openvino", "openvino_bf16")


def _parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--columns", default=",".join(ALL_COLUMNS))
    return ap.parse_args()


ARGS = _parse_args()

# Thread pools read these when they start, so they are set before any
# runtime is imported: OpenMP (LibTorch, ONNX Runtime's MLAS uses its own
# pool) must not start a pool sized to every core of a bigger machine.
os.environ.setdefault("OMP_NUM_THREADS", str(ARGS.threads))
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "models"))
from bench_models import InputSpec, build_model, make_inputs  # noqa: E402


def _flatten(out) -> List[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        res: List[torch.Tensor] = []
        for o in out:
            res.extend(_flatten(o))
        return res
    if isinstance(out, dict):
        res = []
        for k in sorted(out):
            res.extend(_flatten(out[k]))
        return res
    raise TypeError(f"unsupported output type {type(out).__name__}")


def _accuracy(ref: Sequence[np.ndarray], got: Sequence[np.ndarray]) -> Dict[str, float]:
    """Max abs error and cosine similarity over all outputs, concatenated."""
    if len(ref) != len(got):
        raise ValueError(f"{len(got)} outputs, reference has {len(ref)}")
    for i, (r, g) in enumerate(zip(ref, got)):
        if r.shape != g.shape:
            raise ValueError(f"output {i} has shape {list(g.shape)}, reference {list(r.shape)}")
    r = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in ref])
    g = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in got])
    denom = np.linalg.norm(r) * np.linalg.norm(g)
    cosine = float(np.dot(r, g) / denom) if denom > 0 else float(np.array_equal(r, g))
    return {
        "max_abs_error": float(np.max(np.abs(r - g))) if r.size else 0.0,
        "max_abs_reference": float(np.max(np.abs(r))) if r.size else 0.0,
        "cosine": cosine,
    }


def _time(fn: Callable[[], object], runs: int, warmup: int) -> Dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "mean_ms": statistics.fmean(times),
        "runs": runs,
    }


class Unavailable(Exception):
    """A column that cannot run here (no package, no ONNX file): its message
    is the whole reason, without a traceback."""


def _short_error(e: BaseException) -> str:
    text = str(e).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(e, Unavailable):
        return first
    return f"{type(e).__name__}: {first}"[:300]


def bench_torch(model_path: str, inputs: List[torch.Tensor], optimize: bool):
    t0 = time.perf_counter()
    m = torch.jit.load(model_path, map_location="cpu").eval()
    if optimize:
        m = torch.jit.optimize_for_inference(torch.jit.freeze(m))
    else:
        m = torch.jit.freeze(m)
    load_s = time.perf_counter() - t0

    def run():
        with torch.no_grad():
            return m(*inputs)

    out = [o.detach().clone() for o in _flatten(run())]
    res = _time(run, ARGS.runs, ARGS.warmup)
    res["load_s"] = load_s
    return res, [o.numpy() for o in out]


def bench_compile(model_name: str, inputs: List[torch.Tensor], mode: Optional[str]):
    """torch.compile of the eager module, inductor backend: mode None is the
    default mode, else e.g. "max-autotune". The first call compiles (load_s);
    the warm-up runs of _time follow it and are excluded as in every column.

    Each column compiles into a fresh, empty inductor cache directory (removed
    afterwards), so load_s is a cold compile like Kiln's compile time, not a
    read of what an earlier column or bench run left in /tmp/torchinductor_*.
    What inductor pays once per process (its imports, the compile workers,
    the precompiled header) is paid first on a tiny module and reported apart,
    as inductor_startup_s, so that it weighs on neither column's load_s."""
    global _INDUCTOR_STARTUP_S
    import torch._dynamo  # torch.compile's front end, imported only where used

    try:
        from torch._inductor.utils import fresh_cache
    except ImportError:  # a private helper: without it, the shared cache
        fresh_cache = None

    def compiled_in_fresh_cache(fn):
        if fresh_cache is None:
            return fn()
        # fresh_cache keeps its directory when the compile fails: a parent of
        # our own, removed in any case, leaves nothing behind.
        with tempfile.TemporaryDirectory(prefix="kiln-inductor-",
                                         ignore_cleanup_errors=True) as parent:
            with fresh_cache(dir=parent):
                return fn()

    if _INDUCTOR_STARTUP_S is None:
        def tiny():
            torch._dynamo.reset()
            m = torch.compile(nn.Sequential(nn.Linear(8, 8), nn.ReLU()).eval())
            t0 = time.perf_counter()
            with torch.no_grad():
                m(torch.zeros(1, 8))
            return time.perf_counter() - t0
        _INDUCTOR_STARTUP_S = compiled_in_fresh_cache(tiny)
    res, out = compiled_in_fresh_cache(lambda: _bench_compile(model_name, inputs, mode))
    res["inductor_cache"] = "shared" if fresh_cache is None else "fresh"
    res["inductor_startup_s"] = _INDUCTOR_STARTUP_S
    return res, out


_INDUCTOR_STARTUP_S: Optional[float] = None


def _bench_compile(model_name: str, inputs: List[torch.Tensor], mode: Optional[str]):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()  # nothing of a previous column's compile is reused
    counters.clear()
    eager = build_model(model_name)
    compiled = torch.compile(eager) if mode is None else torch.compile(eager, mode=mode)

    def run():
        with torch.no_grad():
            return compiled(*inputs)

    t0 = time.perf_counter()
    out = [o.detach().clone() for o in _flatten(run())]
    load_s = time.perf_counter() - t0
    res = _time(run, ARGS.runs, ARGS.warmup)
    res["load_s"] = load_s
    res["mode"] = mode or "default"
    res["version"] = torch.__version__
    # How the compile went: graphs captured, graph breaks (each one a return
    # to eager Python between compiled pieces), and whether inductor's
    # on-disk FX graph cache served the graphs (load_s is then no compile).
    res["graphs"] = counters["stats"].get("unique_graphs", 0)
    res["graph_breaks"] = sum(counters["graph_break"].values())
    res["fxgraph_cache_hits"] = counters["inductor"].get("fxgraph_cache_hit", 0)
    res["fxgraph_cache_misses"] = counters["inductor"].get("fxgraph_cache_miss", 0)
    return res, [o.cpu().numpy() for o in out]


def bench_ort(onnx_path: str, feeds: Dict[str, np.ndarray]):
    import onnxruntime as ort

    t0 = time.perf_counter()
    so = ort.SessionOptions()
    so.intra_op_num_threads = ARGS.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    load_s = time.perf_counter() - t0

    def run():
        return sess.run(None, feeds)

    out = run()
    res = _time(run, ARGS.runs, ARGS.warmup)
    res["load_s"] = load_s
    res["version"] = ort.__version__
    return res, out


def bench_openvino(onnx_path: str, feeds: Dict[str, np.ndarray], precision: str = "f32"):
    import openvino as ov

    t0 = time.perf_counter()
    core = ov.Core()
    # (d): f32 explicitly: on CPUs with AVX512_BF16 or AMX the plugin
    # otherwise runs in bf16 by default, which is not the fp32 column.
    # (i): bf16, the fair peer of Kiln's auto precision; a CPU without bf16
    # support runs it in f32, which inference_precision below records.
    compiled = core.compile_model(
        core.read_model(onnx_path),
        "CPU",
        {
            "INFERENCE_NUM_THREADS": str(ARGS.threads),
            "NUM_STREAMS": "1",
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": precision,
        },
    )
    req = compiled.create_infer_request()
    load_s = time.perf_counter() - t0
    try:
        used = compiled.get_property("INFERENCE_PRECISION_HINT")
        used = used.to_string() if hasattr(used, "to_string") else str(used)
    except Exception:  # noqa: BLE001 - only a record, never a failure
        used = "?"
    names = [p.get_any_name() for p in compiled.inputs]
    ordered = {n: feeds[n] for n in names}

    def run():
        return req.infer(ordered)

    res_map = run()
    out = [np.array(res_map[o]) for o in compiled.outputs]
    res = _time(run, ARGS.runs, ARGS.warmup)
    res["load_s"] = load_s
    res["version"] = ov.get_version()
    res["inference_precision"] = used
    return res, out


def main() -> int:
    d = ARGS.model_dir
    torch.set_num_threads(ARGS.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    with open(os.path.join(d, "inputs.json")) as f:
        spec = json.load(f)
    specs = [InputSpec(i["name"], tuple(i["shape"]), i["dtype"]) for i in spec["inputs"]]
    inputs = make_inputs(specs, spec.get("seed", 0))
    feeds = {s.name: t.numpy() for s, t in zip(specs, inputs)}
    model_path = os.path.join(d, "model.pt")
    onnx_path = os.path.join(d, "model.onnx")
    ref_path = os.path.join(d, "reference_outputs.pt")
    meta_path = os.path.join(d, "meta.json")
    meta = {}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    # The name bench_models.build_model knows: meta.json's, else the folder's.
    model_name = meta.get("model") or os.path.basename(os.path.normpath(d))

    columns = [c for c in ARGS.columns.split(",") if c]
    unknown = [c for c in columns if c not in ALL_COLUMNS]
    if unknown:
        print(f"reference_bench: unknown column(s) {unknown}", file=sys.stderr)
        return 2

    result = {
        "model": os.path.basename(os.path.normpath(d)),
        "threads": ARGS.threads,
        "runs": ARGS.runs,
        "warmup": ARGS.warmup,
        "torch": torch.__version__,
        "columns": {},
    }
    ref_out = None
    for col in columns:
        try:
            if col in ONNX_COLUMNS and not os.path.exists(onnx_path):
                why = "no model.onnx"
                onnx = meta.get("onnx", {})
                if onnx.get("error"):
                    why = f"ONNX export failed: {onnx['error']}"
                raise Unavailable(why)
            if col == "torchscript":
                res, out = bench_torch(model_path, inputs, optimize=False)
                ref_out = out
                torch.save([torch.from_numpy(o) for o in out], ref_path)
            elif col == "ofi":
                res, out = bench_torch(model_path, inputs, optimize=True)
            elif col == "ort":
                try:
                    import onnxruntime  # noqa: F401
                except ImportError:
                    raise Unavailable("onnxruntime not installed") from None
                res, out = bench_ort(onnx_path, feeds)
            elif col == "compile":
                res, out = bench_compile(model_name, inputs, None)
            elif col == "compile_max":
                res, out = bench_compile(model_name, inputs, "max-autotune")
            else:
                try:
                    import openvino  # noqa: F401
                except ImportError:
                    raise Unavailable("openvino not installed") from None
                res, out = bench_openvino(onnx_path, feeds,
                                          "bf16" if col == "openvino_bf16" else "f32")
            if col != "torchscript":
                if ref_out is None and os.path.exists(ref_path):
                    ref_out = [t.numpy() for t in torch.load(ref_path)]
                if ref_out is not None:
                    try:
                        res["accuracy"] = _accuracy(ref_out, out)
                    except ValueError as e:
                        res["accuracy"] = {"error": str(e)}
            result["columns"][col] = res
        except Exception as e:  # noqa: BLE001 - a column's failure is data, not a crash
            if not isinstance(e, Unavailable):
                traceback.print_exc(file=sys.stderr)
            result["columns"][col] = {"error": _short_error(e)}
        print(f"reference_bench: {result['model']}: {col}: "
              + (f"{result['columns'][col]['median_ms']:.2f} ms"
                 if "median_ms" in result["columns"][col]
                 else result["columns"][col]["error"]),
              file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
