"""Helpers shared by the CLI commands: argument parsing, the options that
several commands take with one meaning (each call makes a fresh typer
parameter), and `fail_on_known_errors`, which every command wears."""

import functools
import sys
from typing import Any, Callable, List, Tuple, Type, TypeVar, cast

from spacy.cli._util import Arg, Opt
from wasabi import msg

from ..errors import KdNerError

KNOWN_ERRORS: Tuple[Type[Exception], ...] = (KdNerError,)
"""The errors a user can fix: a command prints their message, not a traceback."""

F = TypeVar("F", bound=Callable[..., Any])


def fail_on_known_errors(func: F) -> F:
    """Decorate a command function (below `@kd_app.command`): an exception of
    `KNOWN_ERRORS` is printed as its message (`msg.fail` of its first line,
    the lines after it as they are, a list of bad records say) and exits with
    status 1; any other exception propagates with its traceback. The
    signature, which typer reads, is the function's own.

    func (F): The command function.
    RETURNS (F): The wrapped function.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KNOWN_ERRORS as err:
            title, _, details = str(err).partition("\n")
            msg.fail(title)
            if details:
                print(details)
            sys.exit(1)

    return cast(F, wrapper)


def split_commas(value: str, what: str) -> List[str]:
    """The items of a comma-separated argument, stripped.

    value (str): The argument.
    what (str): What an item is, for the error.
    RETURNS (List[str]): The items.
    An empty item (say, a trailing comma) exits with an error.
    """
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        msg.fail(f"Empty {what} in {value!r}.", exits=1)
    return items


def annotated_output_arg() -> Any:
    """The OUTPUT_PATH argument of a command that writes an annotated corpus."""
    return Arg(..., help="Output directory (shards + manifest.json)", file_okay=False)


def shard_size_opt() -> Any:
    """--shard-size: docs per shard of an annotated corpus."""
    return Opt(2000, "--shard-size", "-s", min=1, help="Docs per output shard")


def overwrite_opt() -> Any:
    """--overwrite: replace a complete annotated corpus at the output path."""
    return Opt(False, "--overwrite", help="Replace an earlier complete output")


def code_opt() -> Any:
    """--code: a Python file to import first, as spaCy's commands take it."""
    return Opt(
        None,
        "--code",
        "-c",
        help="Python file with additional code (registered functions) to import",
    )


def gpu_opt() -> Any:
    """--gpu-id: as spaCy's commands take it."""
    return Opt(-1, "--gpu-id", "-g", help="GPU ID or -1 for CPU")
