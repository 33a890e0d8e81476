"""The base class of the errors a user can fix (a bad input, a wrong path, a
setting out of range), as opposed to bugs. The `kd-ner` commands print such
an error's message and exit with status 1, without a traceback; any other
exception keeps its traceback.

The package's earlier error classes (`ConllFormatError`, `AnnotateError`, ...)
are listed beside this class in `cli._util.KNOWN_ERRORS`.
"""


class KdNerError(Exception):
    """An error whose message tells the user what to change. Subclass it
    together with the built-in class that fits (`ValueError`, `OSError`), so
    that callers catching those still catch it."""
