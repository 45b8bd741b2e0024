"""The server bench's report: the targets, the Markdown table and the target
checks, from what bench/server_bench.py measured."""

import os
import re
import shlex
import statistics
import sys
from typing import Dict, List, Optional, Tuple

from bench_common import cpu_info, loadavg, run, tail_reason
from server_models import MODELS

# The targets.
MLP_BATCHING_RATIO = 4.0      # mlp_batch / mlp throughput at concurrency 32
RESNET_CEILING_SHARE = 0.90   # best served batched resnet18 / in-process best
GRPC_OVERHEAD_US = 100.0      # mlp p50 at concurrency 1 - in-process batch-1 latency
TARGET_CONCURRENCY = 32

CSV_FIELDS = {"throughput": "Inferences/Second", "p50": "p50 latency", "p90": "p90 latency",
              "p99": "p99 latency", "queue": "Server Queue", "infer": "Server Compute Infer"}

# variant -> kiln-grpc-floor's figures (measured on the mlp variant at c=1).
GRPC_FLOOR: Dict[str, dict] = {}


def median(values: List[float]) -> Optional[float]:
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def engine_best(engine: Dict[int, dict]) -> Optional[Tuple[int, float]]:
    ok = [(b, r["throughput"]) for b, r in engine.items() if "throughput" in r]
    return max(ok, key=lambda x: x[1]) if ok else None


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
        f"- Client: perf_analyzer {pa_version} over "
        f"{'HTTP/REST' if getattr(args, 'protocol', 'grpc') == 'http' else 'gRPC'} on 127.0.0.1, "
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

    targets = target_checks(names, variants, concurrencies, engine, served,
                            getattr(args, "protocol", "grpc"))
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


def target_checks(names, variants, concurrencies, engine, served, protocol="grpc") -> List[str]:
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

    # 3. mlp: gRPC (or HTTP) overhead at concurrency 1.
    proto = "HTTP" if protocol == "http" else "gRPC"
    title = (f"mlp: p50 {proto} overhead at concurrency 1 (served p50 of `mlp` − in-process "
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
