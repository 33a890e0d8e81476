"""Running the commands that the project's scripts compose."""

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Sequence

import typer
from wasabi import msg


def run(command: Sequence[str]) -> float:
    """Run a command, printed first (the Python executable as `python`); a
    failure ends the calling script with the command's exit code.

    RETURNS (float): The command's wall time in seconds.
    """
    msg.info(shown(command))
    start = time.monotonic()
    code = subprocess.run(list(command)).returncode
    if code != 0:
        msg.fail(f"Command failed with exit code {code}")
        raise SystemExit(code)
    return time.monotonic() - start


def shown(command: Sequence[str]) -> str:
    """The command as printed: the Python executable as `python`."""
    argv = list(command)
    return " ".join(["python", *argv[1:]] if argv[0] == sys.executable else argv)


def run_side_by_side(
    sequences: Dict[str, List[List[str]]], jobs: int
) -> Dict[str, List[float]]:
    """Run each named sequence of commands, its commands one after the other
    and `jobs` sequences at a time. With jobs 1 this is `run` on each command.
    Otherwise every line a command prints comes prefixed with its sequence's
    name, and each command gets OMP_NUM_THREADS = CPUs // jobs (at least 1)
    unless the environment sets it, so that side-by-side torch processes do
    not fight over the cores. A failing sequence stops; the others finish;
    then the first failure ends the calling script with its exit code.

    RETURNS (Dict[str, List[float]]): Each sequence's commands' wall times.
    """
    if jobs <= 1:
        return {
            name: [run(command) for command in commands]
            for name, commands in sequences.items()
        }
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    lock = threading.Lock()

    def say(name: str, line: str) -> None:
        with lock:
            print(f"[{name}] {line}", end="" if line.endswith("\n") else "\n")
            sys.stdout.flush()

    seconds: Dict[str, List[float]] = {name: [] for name in sequences}

    def run_sequence(name: str) -> int:
        for command in sequences[name]:
            say(name, shown(command))
            start = time.monotonic()
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
            )
            assert process.stdout is not None
            for line in process.stdout:
                say(name, line)
            code = process.wait()
            if code != 0:
                say(name, f"Command failed with exit code {code}")
                return code
            seconds[name].append(time.monotonic() - start)
        return 0

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        codes = list(pool.map(run_sequence, sequences))
    failed = [code for code in codes if code != 0]
    if failed:
        msg.fail(f"{len(failed)} of {len(codes)} failed")
        raise SystemExit(failed[0])
    return seconds


def kd_ner(*args: str) -> List[str]:
    """The argv of `python -m spacy kd-ner ARGS`."""
    return [sys.executable, "-m", "spacy", "kd-ner", *args]


def split_list(value: str) -> List[str]:
    """The items of a comma-separated list, stripped, without empty ones."""
    return [item.strip() for item in value.split(",") if item.strip()]


def size_option() -> Any:
    """`--size`: the labeled size of a split (a fresh typer parameter)."""
    return typer.Option(..., help="Labeled size of the split")


def seed_option() -> Any:
    """`--seed`: the seed of a split (a fresh typer parameter)."""
    return typer.Option(..., help="Seed of the split")


def gpu_option() -> Any:
    """`--gpu-id`: -1 for the CPU (a fresh typer parameter)."""
    return typer.Option(-1, help="GPU id, -1 for the CPU")


def corpus_option() -> Any:
    """`--corpus`: the directory that convert and split wrote."""
    return typer.Option(Path("corpus"), help="convert/split's directory")
