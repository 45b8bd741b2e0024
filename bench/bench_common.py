"""What the bench scripts share: running a tool and reading its JSON, and
describing the machine a result was measured on."""

import json
import os
import platform
import subprocess
from typing import List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd: List[str], timeout: int, env=None) -> Tuple[int, str, str]:
    """Runs cmd in the repository; returns (rc, stdout, stderr). A time-out is rc 124."""
    try:
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return 124, out, err + f"\ntimed out after {timeout}s"


def last_json_object(text: str) -> Optional[dict]:
    """The JSON object a tool printed, tolerating log lines around it: the
    whole text when it is one object, else the last line-initial object."""
    try:
        obj = json.loads(text)
        return obj if isinstance(obj, dict) else None
    except ValueError:
        pass
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
    """A one-line reason for a failed run: its exit status and last line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if rc == 124:
        return last or "timed out"
    if rc < 0:
        return f"killed by signal {-rc}" + (f": {last}" if last else "")
    return f"exit {rc}" + (f": {last}" if last else "")


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def cpu_info() -> Tuple[str, str]:
    """(lscpu model name, "N CPUs (M cores)")."""
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
