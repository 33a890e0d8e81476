"""Running the commands that the project's scripts compose."""

import subprocess
import sys
from typing import List, Sequence

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
