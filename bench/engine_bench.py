#!/usr/bin/env python3
"""The engine bench: every bench model under every runtime, one Markdown table.

Run through scripts/bench-engine, which installs the packages and builds the
peak tool first. This script:
  1. measures the FMA peak (build/bench/peak_flops),
  2. generates the models (bench/models/bench_models.py, cached),
  3. times the references per model (bench/reference_bench.py, a process per
     model; should one crash, a process per column, so one runtime's crash
     costs only its own cell),
  4. times Kiln per model with build/kiln-compile at --precision fp32 and auto,
  5. writes the table to --out and prints it.

Any figure that cannot be had becomes "n/a" with its reason as a footnote; a
missing runtime or a failing model never stops the table.
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import sys
import time
from typing import Dict, List, Optional

from bench_common import REPO, cpu_info, last_json_object, loadavg, run, tail_reason
BENCH = os.path.join(REPO, "bench")
PY = sys.executable

# Every column that is not Kiln, as (reference_bench column, label): the
# candidates of "Kiln auto vs best other".
OTHER_COLUMNS = [
    ("torchscript", "TorchScript"),
    ("ofi", "optimize_for_inference"),
    ("ort", "ONNX Runtime"),
    ("openvino", "OpenVINO"),
    ("compile", "torch.compile"),
    ("compile_max", "torch.compile max-autotune"),
    ("openvino_bf16", "OpenVINO bf16"),
]
# reference_bench.py's columns, each run by it.
REF_COLUMNS = [c for c, _ in OTHER_COLUMNS]


def log(msg: str) -> None:
    print(f"bench-engine: {msg}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    today = datetime.date.today().isoformat()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per figure (median)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed runs before timing")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every column this many times, one round after the other per\n"
                         "model; each cell is the median of its rounds' medians (a shared\n"
                         "machine's slow spells then weigh on every column alike)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join("bench", "results", f"{today}-engine.md"))
    ap.add_argument("--models-dir", default=os.path.join("build", "bench_models"))
    ap.add_argument("--work-dir", default=os.path.join("build", "bench", "runs"),
                    help="per-model JSON results of this run")
    ap.add_argument("--peak-tool", default=os.path.join("build", "bench", "peak_flops"))
    ap.add_argument("--kiln-compile", default=os.path.join("build", "kiln-compile"))
    ap.add_argument("--timeout", type=int, default=3600,
                    help="seconds allowed to one model's reference run or one kiln-compile run")
    ap.add_argument("--command-line", default="",
                    help="the command line to record in the header (set by scripts/bench-engine)")
    return ap.parse_args()


# --- gathering ---------------------------------------------------------------


def measure_peak(args) -> dict:
    rc, out, err = run([args.peak_tool, "--threads", str(args.threads), "--json"], 300)
    obj = last_json_object(out) if rc == 0 else None
    if not obj:
        log(f"peak tool failed: {tail_reason(rc, err)}")
        return {"error": tail_reason(rc, err)}
    log(f"peak: fp32 {obj['fp32_gflops']} GFLOP/s, bf16 {obj.get('bf16_gflops')} GFLOP/s "
        f"({obj['isa']}, {obj['threads']} threads)")
    return obj


def best_peak(a: dict, b: dict) -> dict:
    if "error" in a:
        return b
    if "error" in b:
        return a
    best = dict(a)
    for key in ("fp32_gflops", "bf16_gflops"):
        vals = [v for v in (a.get(key), b.get(key)) if isinstance(v, (int, float))]
        best[key] = max(vals) if vals else None
    best["samples"] = [{k: x.get(k) for k in ("fp32_gflops", "bf16_gflops")} for x in (a, b)]
    return best


def generate_models(args, names: List[str]) -> None:
    cmd = [PY, os.path.join(BENCH, "models", "bench_models.py"), "--out", args.models_dir,
           "--models", ",".join(names)]
    rc, out, err = run(cmd, args.timeout)
    for ln in out.strip().splitlines():
        log(ln)
    if rc != 0:
        log(f"model generation reported failures: {tail_reason(rc, err)}")


def reference_run(args, model_dir: str) -> dict:
    base = [PY, os.path.join(BENCH, "reference_bench.py"), model_dir, "--threads",
            str(args.threads), "--runs", str(args.runs), "--warmup", str(args.warmup)]
    rc, out, err = run(base, args.timeout)
    obj = last_json_object(out) if rc == 0 else None
    if obj:
        return obj
    # The process died (a runtime crashed, or ran out of time): retry each
    # column alone so the others still get their figures.
    log(f"{os.path.basename(model_dir)}: reference run failed ({tail_reason(rc, err)}); "
        "retrying column by column")
    merged: dict = {"columns": {}}
    for col in REF_COLUMNS:
        rc, out, err = run(base + ["--columns", col], args.timeout)
        obj = last_json_object(out) if rc == 0 else None
        if obj:
            merged.update({k: v for k, v in obj.items() if k != "columns"})
            merged["columns"].update(obj.get("columns", {}))
        else:
            merged["columns"][col] = {"error": tail_reason(rc, err)}
    return merged


def kiln_run(args, model_dir: str, kiln_input: str, precision: str) -> dict:
    if not os.path.exists(args.kiln_compile):
        return {"error": f"{args.kiln_compile} missing"}
    cmd = [args.kiln_compile, os.path.join(model_dir, "model.pt"), "--input", kiln_input,
           "--precision", precision, "--runs", str(args.runs), "--threads", str(args.threads),
           "--json"]
    t0 = time.time()
    rc, out, err = run(cmd, args.timeout)
    obj = last_json_object(out)
    if rc != 0 or obj is None:
        reason = tail_reason(rc, err)
        if rc == 0:
            reason = "no JSON in kiln-compile's output"
        return {"error": f"kiln-compile {precision}: {reason}"}
    obj["wall_s"] = time.time() - t0
    return obj


def merge_rounds(results: List[dict]) -> dict:
    """One figure set from several rounds of one measurement: every median
    becomes the median of the rounds' medians (the rounds' own figures kept
    beside it); a round that failed is left out unless all did."""
    ok = [r for r in results if "error" not in r]
    if not ok:
        return results[0]
    merged = dict(ok[0])
    for key in ("median_ms", "reference_median_ms"):
        values = [r[key] for r in ok if isinstance(r.get(key), (int, float))]
        if values:
            merged[key] = statistics.median(values)
            merged[f"{key}_rounds"] = values
    ratios = [r["reference_median_ms"] / r["median_ms"] for r in ok
              if isinstance(r.get("reference_median_ms"), (int, float))
              and isinstance(r.get("median_ms"), (int, float)) and r["median_ms"] > 0]
    if ratios:
        merged["alternating_speedup"] = statistics.median(ratios)
    if "columns" in merged:
        names = {c for r in ok for c in r.get("columns", {})}
        merged["columns"] = {c: merge_rounds([r.get("columns", {}).get(c, {"error": "not run"})
                                              for r in ok]) for c in names}
    return merged


def versions() -> Dict[str, str]:
    code = (
        "import json, warnings\n"
        "warnings.filterwarnings('ignore')\n"
        "v = {}\n"
        "import torch, torchvision, numpy\n"
        "v['torch'] = torch.__version__; v['torchvision'] = torchvision.__version__\n"
        "v['numpy'] = numpy.__version__\n"
        "try:\n import onnxruntime; v['onnxruntime'] = onnxruntime.__version__\n"
        "except Exception as e: v['onnxruntime'] = 'not installed'\n"
        "try:\n import openvino; v['openvino'] = openvino.get_version()\n"
        "except Exception as e: v['openvino'] = 'not installed'\n"
        "try:\n import onnx; v['onnx'] = onnx.__version__\n"
        "except Exception as e: v['onnx'] = 'not installed'\n"
        "print(json.dumps(v))\n"
    )
    rc, out, err = run([PY, "-c", code], 300)
    return last_json_object(out) or {}


# --- the table -------------------------------------------------------------------


class Notes:
    """Footnotes: each distinct reason gets one number."""

    def __init__(self):
        self.reasons: List[str] = []

    def ref(self, reason: str) -> str:
        reason = " ".join(reason.split())
        if reason not in self.reasons:
            self.reasons.append(reason)
        return f"n/a [{self.reasons.index(reason) + 1}]"

    def markdown(self) -> str:
        return "\n".join(f"[{i + 1}] {r}" for i, r in enumerate(self.reasons))


def fmt_ms(ms: float) -> str:
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def fmt_err(x: float) -> str:
    return f"{x:.1e}"


def time_cell(col: Optional[dict], base_ms: Optional[float], notes: Notes, label: str) -> str:
    if not col:
        return notes.ref(f"{label}: not run")
    if "error" in col:
        return notes.ref(f"{label}: {col['error']}")
    ms = col.get("median_ms")
    if not isinstance(ms, (int, float)):
        return notes.ref(f"{label}: no median_ms in the result")
    cell = fmt_ms(ms)
    if base_ms:
        cell += f" ({base_ms / ms:.2f}×)"
    return cell


def best_other_cell(cols: Dict[str, dict], kiln_auto: dict, notes: Notes) -> str:
    """Kiln auto against the fastest column that is not Kiln's: that
    column's median ÷ Kiln auto's (> 1: Kiln auto is faster), and its name."""
    label = "Kiln auto vs best other"
    k_ms = kiln_auto.get("median_ms") if kiln_auto and "error" not in kiln_auto else None
    if not isinstance(k_ms, (int, float)) or k_ms <= 0:
        return notes.ref(f"{label}: Kiln auto has no figure")
    timed = [((cols.get(c) or {}).get("median_ms"), name) for c, name in OTHER_COLUMNS
             if "error" not in (cols.get(c) or {"error": ""})]
    timed = [(ms, name) for ms, name in timed if isinstance(ms, (int, float)) and ms > 0]
    if not timed:
        return notes.ref(f"{label}: no other column has a figure")
    ms, name = min(timed)
    return f"{ms / k_ms:.2f}× ({name})"


def kiln_accuracy_cell(k: dict) -> str:
    if not k or "error" in k:
        return "n/a"
    acc = k.get("accuracy") or {}
    if not isinstance(acc, dict) or not acc:
        return "n/a"
    verdict = {True: "pass", False: "FAIL"}.get(acc.get("passed"), "?")
    parts = [verdict]
    if isinstance(acc.get("max_abs_error"), (int, float)):
        parts.append(fmt_err(acc["max_abs_error"]))
    if isinstance(acc.get("cosine"), (int, float)):
        parts.append(f"{acc['cosine']:.6f}")
    cell = " ".join(parts[:2]) + (f" / {parts[2]}" if len(parts) > 2 else "")
    plan = k.get("plan_precision")
    if plan and k.get("precision") == "auto":
        cell += f" ({plan})"
    return cell


def ref_accuracy_cell(col: Optional[dict]) -> str:
    if not col or "error" in col:
        return "n/a"
    acc = col.get("accuracy")
    if not acc:
        return "n/a"
    if "error" in acc:
        return f"mismatch: {acc['error']}"
    return f"{fmt_err(acc['max_abs_error'])} / {acc['cosine']:.6f}"


def build_markdown(args, names: List[str], rows: Dict[str, dict], peak: dict,
                   vers: Dict[str, str], started: str, elapsed_s: float, load: str) -> str:
    notes = Notes()
    model_name, cores = cpu_info()
    fp32_peak = peak.get("fp32_gflops")
    bf16_peak = peak.get("bf16_gflops")
    ref_torch = next((r.get("reference", {}).get("torch") for r in rows.values()
                      if r.get("reference", {}).get("torch")), None) or vers.get("torch", "?")
    lines = [
        "# Engine bench",
        "",
        f"- Command: `{args.command_line or ' '.join(shlex.quote(a) for a in sys.argv)}`",
        f"- Date: {started} (took {elapsed_s / 60:.1f} min)",
        f"- CPU: {model_name}, {cores}; load average (1/5/15 min) {load}",
        f"- Versions: torch {vers.get('torch', '?')} (TorchScript (a), (b); torch.compile (g), "
        f"(h): the same torch, inductor backend), torchvision {vers.get('torchvision', '?')}, "
        f"ONNX Runtime {vers.get('onnxruntime', '?')}, OpenVINO {vers.get('openvino', '?')}, "
        f"onnx {vers.get('onnx', '?')} (the export, TorchScript-based exporter), "
        f"numpy {vers.get('numpy', '?')}",
        "- Measured peak ({} threads, FMA loop, {}): fp32 {} GFLOP/s, bf16 {}{}".format(
            peak.get("threads", args.threads), peak.get("isa", "?"),
            fp32_peak if fp32_peak else f"n/a ({peak.get('error', '?')})",
            f"{bf16_peak} GFLOP/s" if bf16_peak else "n/a (no AVX512_BF16)",
            " (the better of the measurements at the start and the end: fp32 {})".format(
                " and ".join(str(x.get("fp32_gflops")) for x in peak["samples"]))
            if "samples" in peak else ""),
        f"- Rules: batch 1, the same seeded input for every column, {args.threads} intra-op "
        f"threads everywhere, {args.warmup} warm-up runs excluded, median of {args.runs} "
        "timed runs, all columns in this one run of the script"
        + (f"; {args.rounds} rounds per model (every column measured in each), each cell the "
           "median of its rounds' medians." if args.rounds > 1 else "."),
        f"- Times in ms; (N×) is the speedup over (a), TorchScript on torch {ref_torch}. "
        "Roofline = model FLOPs ÷ measured peak (fp32; bf16 where AVX512_BF16 exists). "
        "Kiln auto vs best other = the smallest median of the columns that are not Kiln's "
        "((a)–(d), (g)–(i)) ÷ Kiln auto's median: above 1, Kiln auto is the fastest.",
        "",
        f"| model | GFLOPs | roofline ms fp32 / bf16 | (a) TorchScript frozen, torch {ref_torch} | "
        "(b) optimize_for_inference | (c) ONNX Runtime | (d) OpenVINO | (e) Kiln fp32 | "
        "(f) Kiln auto | (g) torch.compile | (h) torch.compile max-autotune | (i) OpenVINO bf16 | "
        "Kiln auto vs best other | Kiln compile s fp32 / auto | Kiln accuracy fp32 | "
        "Kiln accuracy auto |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    acc_lines = [
        "",
        "## Accuracy of the references against (a)",
        "",
        "max abs error / cosine similarity over all outputs.",
        "",
        "| model | max abs output of (a) | (b) optimize_for_inference | (c) ONNX Runtime | "
        "(d) OpenVINO | (g) torch.compile | (h) torch.compile max-autotune | (i) OpenVINO bf16 |",
        "|---|---:|---|---|---|---|---|---|",
    ]
    compile_lines = [
        "",
        "## torch.compile and OpenVINO bf16",
        "",
        "torch.compile's compile time is its first call (excluded from the timings), each "
        "column in a fresh inductor cache, after inductor's once-per-process start-up (its "
        "imports, compile workers, precompiled header: timed apart on a tiny module, not in "
        "either column's compile s); graphs / graph breaks as dynamo counted them. "
        "OpenVINO bf16's precision is what the plugin reports it ran in (f32 on a CPU without "
        "bf16 support).",
        "",
        "| model | inductor start-up s | (g) compile s | (g) graphs / breaks | (h) compile s | "
        "(h) graphs / breaks | (i) precision run | (i) load s |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    kiln_lines = [
        "",
        "## Kiln plans",
        "",
        "kiln-compile also times (a) itself, in blocks alternating with the plan in one "
        "process: the last column is that speedup (median over rounds), the figure least "
        "moved by the machine's other load.",
        "",
        "| model | precision | plan precision | segments | nodes left to TorchScript | "
        "(a) as kiln-compile measured it, ms | speedup measured alternately |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name in names:
        row = rows.get(name, {})
        if "error" in row:
            err = notes.ref(f"{name}: {row['error']}")
            lines.append(f"| {name} | {err} |" + " |" * 14)
            continue
        flops = row.get("flops")
        cols = row.get("reference", {}).get("columns", {})
        base = cols.get("torchscript", {})
        base_ms = base.get("median_ms") if "error" not in base else None
        gflops = f"{flops / 1e9:.2f}" if flops else "n/a"
        if flops and fp32_peak:
            roof = fmt_ms(flops / (fp32_peak * 1e9) * 1e3)
            roof += " / " + (fmt_ms(flops / (bf16_peak * 1e9) * 1e3) if bf16_peak else "n/a")
        else:
            roof = "n/a"
        kf, ka = row.get("kiln_fp32", {}), row.get("kiln_auto", {})

        def compile_s(k: dict) -> str:
            v = k.get("compile_seconds") if "error" not in k else None
            return f"{v:.1f}" if isinstance(v, (int, float)) else "n/a"

        ov_bf16 = cols.get("openvino_bf16")

        def bf16_time_cell() -> str:
            cell = time_cell(ov_bf16, base_ms, notes, "OpenVINO bf16")
            ran = (ov_bf16 or {}).get("inference_precision")
            if ov_bf16 and "error" not in ov_bf16 and ran and ran != "bf16":
                cell += " " + notes.ref(
                    f"OpenVINO bf16: the plugin ran in {ran}, not bf16 (no bf16 support on "
                    "this CPU)").replace("n/a ", "")
            return cell

        cells = [
            name,
            gflops,
            roof,
            time_cell(base, None, notes, "TorchScript"),
            time_cell(cols.get("ofi"), base_ms, notes, "optimize_for_inference"),
            time_cell(cols.get("ort"), base_ms, notes, "ONNX Runtime"),
            time_cell(cols.get("openvino"), base_ms, notes, "OpenVINO"),
            time_cell(kf, base_ms, notes, "Kiln"),
            time_cell(ka, base_ms, notes, "Kiln"),
            time_cell(cols.get("compile"), base_ms, notes, "torch.compile"),
            time_cell(cols.get("compile_max"), base_ms, notes, "torch.compile max-autotune"),
            bf16_time_cell(),
            best_other_cell(cols, ka, notes),
            f"{compile_s(kf)} / {compile_s(ka)}",
            kiln_accuracy_cell(kf),
            kiln_accuracy_cell(ka),
        ]
        lines.append("| " + " | ".join(cells) + " |")

        ref_max = "n/a"
        for c in ("ofi", "ort", "openvino", "compile", "compile_max", "openvino_bf16"):
            acc = (cols.get(c) or {}).get("accuracy") or {}
            if "max_abs_reference" in acc:
                ref_max = fmt_err(acc["max_abs_reference"])
                break
        acc_lines.append(
            f"| {name} | {ref_max} | {ref_accuracy_cell(cols.get('ofi'))} | "
            f"{ref_accuracy_cell(cols.get('ort'))} | {ref_accuracy_cell(cols.get('openvino'))} | "
            f"{ref_accuracy_cell(cols.get('compile'))} | "
            f"{ref_accuracy_cell(cols.get('compile_max'))} | "
            f"{ref_accuracy_cell(cols.get('openvino_bf16'))} |"
        )

        def tc_cells(c: Optional[dict]) -> List[str]:
            if not c or "error" in c:
                return ["n/a", "n/a"]
            load_s = c.get("load_s")
            return [f"{load_s:.1f}" if isinstance(load_s, (int, float)) else "n/a",
                    f"{c.get('graphs', '?')} / {c.get('graph_breaks', '?')}"]

        startup = next((c.get("inductor_startup_s") for c in
                        (cols.get("compile") or {}, cols.get("compile_max") or {})
                        if isinstance(c.get("inductor_startup_s"), (int, float))), None)
        ov_ok = ov_bf16 and "error" not in ov_bf16
        ov_load = (ov_bf16 or {}).get("load_s")
        compile_lines.append(
            "| " + " | ".join(
                [name, f"{startup:.1f}" if startup is not None else "n/a"]
                + tc_cells(cols.get("compile")) + tc_cells(cols.get("compile_max"))
                + [(ov_bf16 or {}).get("inference_precision", "?") if ov_ok else "n/a",
                   f"{ov_load:.2f}" if ov_ok and isinstance(ov_load, (int, float)) else "n/a"]
            ) + " |"
        )
        for label, k in (("fp32", kf), ("auto", ka)):
            if k and "error" not in k:
                ref = k.get("reference_median_ms")
                alternating = k.get("alternating_speedup")
                kiln_lines.append(
                    f"| {name} | {label} | {k.get('plan_precision', '?')} | "
                    f"{k.get('segments', '?')} | {k.get('nodes_left_to_torchscript', '?')} | "
                    f"{fmt_ms(ref) if isinstance(ref, (int, float)) else 'n/a'} | "
                    f"{f'{alternating:.2f}×' if isinstance(alternating, (int, float)) else 'n/a'} |"
                )
    out = lines + acc_lines + compile_lines
    if len(kiln_lines) > 8:
        out += kiln_lines
    if notes.reasons:
        out += ["", "## Notes", "", notes.markdown()]
    return "\n".join(out) + "\n"


# --- main --------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    os.chdir(REPO)
    sys.path.insert(0, os.path.join(BENCH, "models"))
    rc, out, _ = run([PY, os.path.join(BENCH, "models", "bench_models.py"), "--list"], 300)
    known = out.split()
    names = [n for n in args.models.split(",") if n] or known
    unknown = [n for n in names if n not in known]
    if unknown:
        log(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(known)}")
        return 2

    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load_start = loadavg()
    t_start = time.time()
    peak = measure_peak(args)
    vers = versions()
    generate_models(args, names)
    os.makedirs(args.work_dir, exist_ok=True)

    rows: Dict[str, dict] = {}
    for name in names:
        d = os.path.join(args.models_dir, name)
        if not os.path.exists(os.path.join(d, "model.pt")):
            rows[name] = {"error": "model generation failed (see the log)"}
            continue
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        with open(os.path.join(d, "inputs.json")) as f:
            kiln_input = json.load(f)["kiln_input"]
        rounds: Dict[str, List[dict]] = {"reference": [], "kiln_fp32": [], "kiln_auto": []}
        for r in range(max(1, args.rounds)):
            label = f" (round {r + 1} of {args.rounds})" if args.rounds > 1 else ""
            log(f"{name}: references{label}")
            rounds["reference"].append(reference_run(args, d))
            for precision in ("fp32", "auto"):
                log(f"{name}: kiln {precision}{label}")
                rounds[f"kiln_{precision}"].append(kiln_run(args, d, kiln_input, precision))
        row = {"flops": meta.get("flops")}
        row.update({key: merge_rounds(results) for key, results in rounds.items()})
        rows[name] = row
        with open(os.path.join(args.work_dir, f"{name}.json"), "w") as f:
            json.dump(row, f, indent=1)
        summary = {c: v.get("median_ms", v.get("error"))
                   for c, v in row["reference"].get("columns", {}).items()}
        log(f"{name}: {json.dumps(summary)}")

    # Measured again at the end and the better kept: on a shared machine one
    # measurement can land under someone else's build and understate the peak.
    peak = best_peak(peak, measure_peak(args))
    # Other work on the machine moves every figure; the load averages tell
    # a reader how quiet the run was.
    load = f"{load_start} at the start, {loadavg()} at the end"
    md = build_markdown(args, names, rows, peak, vers, started, time.time() - t_start, load)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md)
    print(md)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
