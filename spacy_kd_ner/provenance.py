"""Where a result came from: the run record that every written metrics file
carries, so that a figure can be traced to a command, a commit and a machine."""

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional


def run_record() -> Dict[str, Any]:
    """The current process's command line, the git commit of the working
    directory (None outside a git checkout; `dirty` when tracked files differ
    from it), the UTC date and the machine.

    RETURNS (Dict[str, Any]): {"command", "commit", "dirty", "date", "machine"}.
    """
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "command": shlex.join([*_program(), *sys.argv[1:]]),
        "commit": commit,
        "dirty": bool(status) if commit is not None else None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "machine": machine(),
    }


def machine() -> Dict[str, Any]:
    """Cores, torch's thread count, the CPU model and the GPU, if any.

    RETURNS (Dict[str, Any]): {"cpu", "cores", "torch_threads", "gpu"}.
    """
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
    }


def _program() -> List[str]:
    """How the process was started: `python -m spacy` for a module run, else
    the script's name."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        module = spec.name.removesuffix(".__main__")
        return ["python", "-m", module]
    return [Path(sys.argv[0]).name]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()
