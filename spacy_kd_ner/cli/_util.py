"""Helpers shared by the CLI commands."""

from typing import List

from wasabi import msg


def split_commas(value: str, what: str) -> List[str]:
    """The items of a comma-separated argument, stripped; an empty item (say,
    a trailing comma) exits with an error naming `what` it should be."""
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        msg.fail(f"Empty {what} in {value!r}.", exits=1)
    return items
