#!/usr/bin/env python3
"""Writes a Triton-style model repository of generated TorchScript models.

    make_repository.py --kind demo|test --out DIR [--force]

  demo: what scripts/serve serves (resnet18, mobilenet_v2, two_in_two_out,
        int64_embed).
  test: the e2e test repository (small models, every dtype, dict inputs and
        outputs, versions, a model freeze rejects, and broken models).

Weights are random from fixed seeds; nothing is downloaded. Run it with the
project venv's Python (.venv/bin/python: the pinned torch 2.x wheel).

Cheap to call repeatedly: DIR holds a stamp (hash of the generator's sources
and the kind); when it matches, nothing happens (and torch is not imported).
Otherwise the repository is rebuilt in a temporary folder next to DIR and then
replaces DIR. A non-empty DIR without a stamp is refused unless --force, so a
typo cannot wipe an unrelated folder.
"""

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The generators and the pinned torch, torchvision, timm and transformers
# that build and serialize the models.
SOURCES = [HERE / "make_repository.py", HERE / "kiln_models.py", HERE / "model_files.py",
           HERE / "attention_models.py", HERE.parents[1] / "scripts" / "requirements.txt"]
STAMP_NAME = ".kiln-repository-stamp"
KINDS = ("demo", "test")


def stamp_for(kind: str) -> str:
    h = hashlib.sha256()
    for src in SOURCES:
        h.update(src.name.encode() + b"\0" + src.read_bytes() + b"\0")
    h.update(kind.encode())
    return f"{kind} {h.hexdigest()}\n"


def write_stamped(out: Path, stamp: str, build, what: str, force: bool = False,
                  quiet: bool = False) -> bool:
    """Makes `out` hold what `build(tmp_dir)` writes, unless `out` already
    carries `stamp`. `build` returns a short summary for the log line. The
    folder is written next to `out` and then swapped in; a non-empty `out`
    without a stamp is refused unless `force`. Concurrent writers of the same
    `out` are serialized. Returns True when it (re)built."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp_file = out / STAMP_NAME
        if stamp_file.is_file() and stamp_file.read_text() == stamp:
            if not quiet:
                print(f"{out}: up to date ({what})")
            return False
        if out.exists() and any(out.iterdir()) and not stamp_file.exists() and not force:
            raise SystemExit(f"{out} is not empty and was not written by Kiln's model "
                             "generators; pass --force to replace it")
        # torch 2.x marks torch.jit.trace/script/save deprecated in favour of
        # torch.export; TorchScript is what this server serves.
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit")
        start = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; servers may run as another user
        try:
            summary = build(tmp)
            (tmp / STAMP_NAME).write_text(stamp)
            if out.exists():
                shutil.rmtree(out)
            tmp.rename(out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        if not quiet:
            print(f"{out}: wrote {what} ({summary}, {time.monotonic() - start:.1f} s)")
        return True


def generate(kind: str, out: Path, force: bool = False, quiet: bool = False) -> bool:
    """Makes `out` hold the `kind` repository. Returns True when it (re)built."""

    def build(tmp: Path) -> str:
        sys.path.insert(0, str(HERE))
        import kiln_models  # heavy: torch, torchvision

        names = kiln_models.build(kind, tmp)
        return f"{len(names)} models: {' '.join(names)}"

    return write_stamped(out, stamp_for(kind), build, f"{kind} repository", force, quiet)


def ensure_test_repository() -> Path:
    """The test repository the e2e and deploy tests use: $KILN_TEST_REPO when
    set, else <repo>/build/test_repo brought up to date by running this tool
    in a subprocess (so the caller never imports torch for it). Raises
    RuntimeError with the tool's output when generating fails."""
    if os.environ.get("KILN_TEST_REPO"):
        return Path(os.environ["KILN_TEST_REPO"]).resolve()
    out = HERE.parents[1] / "build" / "test_repo"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--kind", "test", "--out", str(out),
           "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--out", required=True, type=Path, help="repository folder to write")
    parser.add_argument("--force", action="store_true",
                        help="replace DIR even if it was not written by this tool")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    generate(args.kind, args.out, force=args.force, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
