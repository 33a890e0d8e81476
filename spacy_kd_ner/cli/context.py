"""`kd-ner context`: sentences in the context of their source documents."""

from pathlib import Path

from spacy.cli._util import Arg, Opt
from wasabi import msg

from ..context import ContextSource, write_window_docs
from ._app import kd_app
from ._util import fail_on_known_errors


@kd_app.command("context")
@fail_on_known_errors
def context_cli(
    input_path: Path = Arg(
        ...,
        help="Sentence docs (e.g. a labeled split) of the source, with user data",
        exists=True,
        dir_okay=False,
    ),
    output_path: Path = Arg(..., help="Output .spacy file of window docs"),
    source: Path = Arg(
        ...,
        help="The .spacy file the sentences come from (`convert --user-data`)",
        exists=True,
        dir_okay=False,
    ),
    window: int = Opt(
        2, "--window", "-w", min=0, help="Sentences of context on each side"
    ),
):
    """
    Write each sentence doc inside the sentences around it in its source
    document: up to --window sentences before and after it, within the same
    document. The sentence keeps its entity annotation; the context's is
    missing, so a teacher trained on these docs (and scored on them, for a dev
    set) learns from the sentences alone. Train the teacher on the output,
    then annotate with `annotate --context-source` and the same window.
    """
    counts = write_window_docs(
        input_path, output_path, ContextSource.from_disk(source, window)
    )
    rows = [
        ("docs read and written", f"{counts.docs:,}"),
        ("sentence tokens", f"{counts.sentence_tokens:,}"),
        ("context tokens", f"{counts.context_tokens:,}"),
        ("entities read", f"{counts.entities_read:,}"),
        ("entities written", f"{counts.entities_written:,}"),
    ]
    msg.table(rows, aligns=("l", "r"))
    msg.good(
        f"Wrote {counts.docs:,} window docs ({window} on each side) -> {output_path}"
    )
