"""`.spacy` corpora on disk: which DocBin files a corpus path names, and their docs.

A corpus path is a ``.spacy`` file or a directory. A directory names the
``.spacy`` files that spaCy's own ``Corpus`` reads under it, found by
``spacy.training.corpus.walk_corpus``: sorted by path, and skipping every
hidden name. ``walk_corpus`` checks each path it visits, directories included,
before it looks inside, so a hidden directory (such as the ``.<name>.partial``
work directory of an unfinished `annotate`) is never read, at any depth; a
path that is itself hidden names no files either, as for ``spacy train``.
"""

import warnings
from pathlib import Path
from typing import Iterable, Iterator, List, Union

from spacy.tokens import Doc, DocBin
from spacy.training.corpus import walk_corpus
from spacy.vocab import Vocab

FILE_TYPE = ".spacy"


def docbin_paths(path: Union[str, Path]) -> List[Path]:
    """The DocBin files of a corpus path.

    path (Union[str, Path]): A ``.spacy`` file (read whatever its suffix), or
        a directory of them (see the module docstring).
    RETURNS (List[Path]): The files, sorted.
    RAISES FileNotFoundError: Nothing exists at `path`.
    RAISES ValueError: A directory without ``.spacy`` files to read.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No corpus at {path}.")
    if not path.is_dir():
        return [path]
    with warnings.catch_warnings():
        # walk_corpus warns (W090) when it finds nothing; we raise instead.
        warnings.simplefilter("ignore", UserWarning)
        files = walk_corpus(path, FILE_TYPE)
    if not files:
        raise ValueError(f"No {FILE_TYPE} files under {path}.")
    return files


def read_docbins(paths: Iterable[Path], vocab: Vocab) -> Iterator[Doc]:
    """The docs of DocBin files, in order, one file in memory at a time.

    Each doc keeps the user data stored with it (e.g. teacher scores).

    paths (Iterable[Path]): The files (e.g. from `docbin_paths`).
    vocab (Vocab): The vocab to read the docs into.
    YIELDS (Doc): The docs.
    """
    for path in paths:
        doc_bin = DocBin().from_disk(path)
        yield from doc_bin.get_docs(vocab)
        del doc_bin


def read_corpus(path: Union[str, Path], vocab: Vocab) -> Iterator[Doc]:
    """The docs of a corpus path: `read_docbins` of its `docbin_paths`.

    The files are listed (and the errors of `docbin_paths` raised) at the
    call, before the first doc is read.

    path (Union[str, Path]): A ``.spacy`` file or a directory of them.
    vocab (Vocab): The vocab to read the docs into.
    RETURNS (Iterator[Doc]): The docs, read lazily.
    """
    return read_docbins(docbin_paths(path), vocab)


def count_docbin_docs(paths: Iterable[Path]) -> int:
    """The number of docs in DocBin files, without building the docs.

    paths (Iterable[Path]): The files.
    RETURNS (int): The number of docs.
    """
    return sum(len(DocBin().from_disk(path)) for path in paths)
