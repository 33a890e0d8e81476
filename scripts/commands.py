"""Running the commands that the project's scripts compose."""

import subprocess
import sys
from pathlib import Path
from typing import Any, List, Sequence

import typer
from wasabi import msg


def run(command: Sequence[str]) -> None:
    """Run a command, printed first (the Python executable as `python`); a
    failure ends the calling script with the command's exit code."""
    shown = ["python", *command[1:]] if command[0] == sys.executable else command
    msg.info(" ".join(shown))
    code = subprocess.run(list(command)).returncode
    if code != 0:
        msg.fail(f"Command failed with exit code {code}")
        raise SystemExit(code)


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
