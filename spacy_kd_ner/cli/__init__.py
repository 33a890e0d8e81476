"""CLI commands. Importing this package registers them on spaCy's app."""

# Each command module registers itself on kd_app when imported.
# (one import line per command module, added as the modules land)
from . import (
    annotate,  # noqa: F401
    benchmark,  # noqa: F401
    context,  # noqa: F401
    convert,  # noqa: F401
    evaluate,  # noqa: F401
    grid,  # noqa: F401
    merge,  # noqa: F401
    report,  # noqa: F401
    split,  # noqa: F401
    vectors,  # noqa: F401
)
from ._app import kd_app

__all__ = ["kd_app"]
