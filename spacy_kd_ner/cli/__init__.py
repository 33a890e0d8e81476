"""CLI commands. Importing this package registers them on spaCy's app."""

# Each command module registers itself on kd_app when imported.
from . import (
    annotate,  # noqa: F401
    benchmark,  # noqa: F401
    context,  # noqa: F401
    convert,  # noqa: F401
    evaluate,  # noqa: F401
    merge,  # noqa: F401
    vectors,  # noqa: F401
    word_priors,  # noqa: F401
)
from ._app import kd_app

__all__ = ["kd_app"]
