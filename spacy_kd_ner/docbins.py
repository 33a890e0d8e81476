"""`.spacy` corpora on disk: which DocBin files a corpus path names, and their docs.

A corpus path is a ``.spacy`` file or a directory. A directory names the
``.spacy`` files that spaCy's own ``Corpus`` reads under it, found by
``spacy.training.corpus.walk_corpus``: sorted by path, and skipping every
hidden name. ``walk_corpus`` checks each path it visits, directories included,
before it looks inside, so a hidden directory (such as the ``.<name>.partial``
work directory of an unfinished `annotate`) is never read, at any depth; a
path that is itself hidden names no files either, as for ``spacy train``.

Every DocBin is read through `docbin_from_bytes`, so that a file that is not a
readable DocBin (truncated, say) is a `DocBinError` that names it, never
spaCy's bare E1014.
"""

import warnings
from pathlib import Path
from typing import Iterable, Iterator, List, Union

from spacy.tokens import Doc, DocBin
from spacy.training.corpus import walk_corpus
from spacy.vocab import Vocab

from .errors import InputError, KdNerError

FILE_TYPE = ".spacy"


class DocBinError(KdNerError, ValueError):
    """A file is not a readable DocBin (e.g. truncated); the message names it."""


class CorpusPathError(InputError):
    """A corpus path that names no DocBin file: nothing there, or a directory
    without ``.spacy`` files."""


def docbin_from_bytes(data: bytes, path: Union[str, Path]) -> DocBin:
    """A DocBin from the bytes of a file.

    data (bytes): The file's content.
    path (Union[str, Path]): The file, for the error.
    RETURNS (DocBin): The DocBin (user data kept).
    RAISES DocBinError: `data` is not a DocBin.
    """
    try:
        return DocBin(store_user_data=True).from_bytes(data)
    except (ValueError, KeyError, TypeError) as err:
        raise DocBinError(
            f"Cannot read {path}: not a complete .spacy (DocBin) file, it may be "
            f"truncated or from an interrupted copy ({err})"
        ) from None


def load_docbin(path: Union[str, Path]) -> DocBin:
    """A DocBin file, read (`docbin_from_bytes`).

    path (Union[str, Path]): The file.
    RETURNS (DocBin): The DocBin.
    RAISES DocBinError: The file is not a DocBin.
    """
    return docbin_from_bytes(Path(path).read_bytes(), path)


def docbin_paths(path: Union[str, Path]) -> List[Path]:
    """The DocBin files of a corpus path.

    path (Union[str, Path]): A ``.spacy`` file (read whatever its suffix), or
        a directory of them (see the module docstring).
    RETURNS (List[Path]): The files, sorted.
    RAISES CorpusPathError: Nothing exists at `path`, or a directory holds no
        ``.spacy`` files to read.
    """
    path = Path(path)
    if not path.exists():
        raise CorpusPathError(f"No corpus at {path}.")
    if not path.is_dir():
        return [path]
    with warnings.catch_warnings():
        # walk_corpus warns (W090) when it finds nothing; we raise instead.
        warnings.simplefilter("ignore", UserWarning)
        files = walk_corpus(path, FILE_TYPE)
    if not files:
        raise CorpusPathError(f"No {FILE_TYPE} files under {path}.")
    return files


def read_docbins(paths: Iterable[Path], vocab: Vocab) -> Iterator[Doc]:
    """The docs of DocBin files, in order, one file in memory at a time.

    Each doc keeps the user data stored with it (e.g. teacher scores).

    paths (Iterable[Path]): The files (e.g. from `docbin_paths`).
    vocab (Vocab): The vocab to read the docs into.
    YIELDS (Doc): The docs.
    RAISES DocBinError: A file is not a DocBin.
    """
    for path in paths:
        yield from docbin_docs(load_docbin(path), vocab, path)


def docbin_docs(doc_bin: DocBin, vocab: Vocab, path: Union[str, Path]) -> Iterator[Doc]:
    """The docs of a DocBin read from `path`, built lazily.

    doc_bin (DocBin): The DocBin.
    vocab (Vocab): The vocab to read the docs into.
    path (Union[str, Path]): Its file, for the error.
    YIELDS (Doc): The docs.
    RAISES DocBinError: A doc cannot be built from the DocBin.
    """
    docs = doc_bin.get_docs(vocab)
    while True:
        try:
            doc = next(docs)
        except StopIteration:
            return
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise DocBinError(f"Cannot read the docs of {path}: {err}") from None
        yield doc


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
    RAISES DocBinError: A file is not a DocBin.
    """
    return sum(len(load_docbin(path)) for path in paths)
