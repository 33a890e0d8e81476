"""The base class of the errors a user can fix (a bad input, a wrong path, a
setting out of range), as opposed to bugs. The `kd-ner` commands print such
an error's message and exit with status 1, without a traceback; any other
exception keeps its traceback.

Every error class of the package that a user can fix subclasses
`KdNerError` (`ConllFormatError`, `AnnotateError`, `DocBinError`, ...).
"""


class KdNerError(Exception):
    """An error whose message tells the user what to change. Subclass it
    together with the built-in class that fits (`ValueError`, `OSError`), so
    that callers catching those still catch it."""


class InputError(KdNerError, FileNotFoundError, ValueError):
    """A path or a value given to a command that cannot be used: a file that
    is not there, a directory of the wrong kind, a setting out of range. Both
    a FileNotFoundError and a ValueError, the classes such cases raise in
    Python, so that callers catching either still catch it."""
