"""Labeled splits and the fixed unlabeled pool, as in the paper's setup.

Run as ``python scripts/split.py TRAIN.spacy OUTPUT_DIR --sizes ... --seeds ...``
from the project directory.

From a converted train corpus (one Doc per sentence), ``split_corpus`` draws

- ``unlabeled.spacy``: a fixed pool of ``pool_size`` sentences (10,000 in the
  paper), drawn once with ``pool_seed``, gold entities removed (words and
  spaces only: entity annotation missing, not "O");
- ``labeled-<size>-<seed>.spacy``: for each size and seed, ``size`` sentences
  with their gold entities, drawn from the sentences outside the pool;
- ``<name>.spacy`` for each held-out set (``held_out``, e.g. ``test=600,
  dev=200`` for a corpus that has no test or dev set of its own): drawn
  first, in the order given, with ``pool_seed``, gold kept; neither the pool
  nor the labeled splits draw from them.

A pool size of -1 is "the rest": every sentence outside the held-out sets
and the largest labeled split (with one seed, the pool and the splits then
cover the corpus).

The draw is a ranking that does not depend on any random number generator:
sentence ``i`` (its index in the input, empty docs excluded) gets the key
``sha256(f"{seed}:{i}")`` and a draw takes the sentences with the smallest
keys. So the splits are the same on every machine and version, the pool never
changes when sizes or seeds are added, and for one seed the labeled splits are
nested (``labeled-150-1`` is part of ``labeled-300-1``). Docs keep their order
of the input within each file. ``split.json`` records the settings and counts.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple, Union

import typer
from spacy.cli._util import Arg, Opt, string_to_list
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from wasabi import msg

from spacy_kd_ner.doc_text import unannotated_copy

DEFAULT_POOL_SIZE = 10_000
DEFAULT_POOL_SEED = 0
UNLABELED = "unlabeled.spacy"
SUMMARY = "split.json"


class SplitError(ValueError):
    """The requested splits do not fit the corpus."""


@dataclass
class SplitReport:
    """What `split_corpus` read and wrote.

    n_input (int): Docs in the input.
    n_empty (int): Empty docs (never drawn).
    n_pool (int): Sentences in the unlabeled pool.
    n_rest (int): Sentences outside the pool that labeled splits draw from.
    files (Dict[str, Dict[str, int]]): Per written file: docs, tokens, entities.
    """

    n_input: int = 0
    n_empty: int = 0
    n_pool: int = 0
    n_rest: int = 0
    files: Dict[str, Dict[str, int]] = field(default_factory=dict)


def labeled_name(size: int, seed: int) -> str:
    """The file name of a labeled split: ``labeled-<size>-<seed>.spacy``."""
    return f"labeled-{size}-{seed}.spacy"


def draw_key(seed: int, index: int) -> bytes:
    """The ranking key of sentence `index` under `seed`."""
    return hashlib.sha256(f"{seed}:{index}".encode()).digest()


def rank(indices: Iterable[int], seed: int) -> List[int]:
    """The indices ordered by their keys under `seed` (the order of the draw)."""
    return sorted(indices, key=lambda i: draw_key(seed, i))


def draw(indices: Iterable[int], n: int, seed: int) -> List[int]:
    """The `n` indices with the smallest keys under `seed`, in ascending order.

    indices (Iterable[int]): The candidates.
    n (int): How many to draw.
    seed (int): The seed.
    RETURNS (List[int]): The drawn indices, sorted.
    """
    ranked = rank(indices, seed)
    if n > len(ranked):
        raise SplitError(f"Cannot draw {n} sentences from {len(ranked)}.")
    return sorted(ranked[:n])


def split_indices(
    n_docs: int,
    candidates: Sequence[int],
    *,
    sizes: Sequence[int],
    seeds: Sequence[int],
    pool_size: int = DEFAULT_POOL_SIZE,
    pool_seed: int = DEFAULT_POOL_SEED,
    held_out: Sequence[Tuple[str, int]] = (),
) -> Dict[str, List[int]]:
    """The doc indices of the held-out sets, the pool and each labeled split.

    n_docs (int): Docs in the corpus.
    candidates (Sequence[int]): The indices that may be drawn (non-empty docs).
    pool_size (int): The pool's size; -1: the rest (see the module).
    held_out (Sequence[Tuple[str, int]]): (name, size) of sets drawn first.
    RETURNS (Dict[str, List[int]]): File name to sorted doc indices.
    """
    if pool_size < -1 or any(size < 1 for size in sizes):
        raise SplitError(
            f"The pool size must be >= 0 (or -1, the rest) and the labeled sizes "
            f">= 1, got pool_size={pool_size}, sizes={list(sizes)}."
        )
    splits: Dict[str, List[int]] = {}
    ranked_all = rank(candidates, pool_seed)
    for name, size in held_out:
        file_name = f"{name}.spacy"
        if size < 1 or file_name in (UNLABELED, *map(str, splits)):
            raise SplitError(
                f"Held-out set {name}={size}: sizes must be >= 1 and names "
                f"distinct and other than 'unlabeled'."
            )
        taken = {i for indices in splits.values() for i in indices}
        available = [i for i in ranked_all if i not in taken]
        if size > len(available):
            raise SplitError(
                f"The held-out set {name} of {size:,} sentences does not fit the "
                f"{len(available):,} left."
            )
        splits[file_name] = sorted(available[:size])
    held = {i for indices in splits.values() for i in indices}
    candidates = [i for i in candidates if i not in held]
    if pool_size == -1:
        pool_size = max(0, len(candidates) - max(sizes, default=0))
    if pool_size > len(candidates):
        raise SplitError(
            f"The unlabeled pool of {pool_size:,} sentences does not fit a corpus "
            f"of {len(candidates):,} non-empty sentences."
        )
    pool = draw(candidates, pool_size, pool_seed)
    in_pool = set(pool)
    rest = [i for i in candidates if i not in in_pool]
    too_big = [size for size in sizes if size > len(rest)]
    if too_big:
        raise SplitError(
            f"Labeled sizes {too_big} exceed the {len(rest):,} sentences outside "
            f"the unlabeled pool ({n_docs:,} docs, pool of {pool_size:,})."
        )
    splits[UNLABELED] = pool
    for seed in seeds:
        ranked = rank(rest, seed)
        for size in sizes:
            splits[labeled_name(size, seed)] = sorted(ranked[:size])
    return splits


def unlabeled_copy(doc: Doc) -> Doc:
    """The doc's words and spaces, without entities (annotation missing), and
    its plain user data (e.g. ``conll_doc``), without extension values."""
    new = unannotated_copy(doc.vocab, doc)
    for key, value in doc.user_data.items():
        if isinstance(key, str):
            new.user_data[key] = value
    return new


def _counts(docs: List[Doc]) -> Dict[str, int]:
    return {
        "docs": len(docs),
        "tokens": sum(len(doc) for doc in docs),
        "entities": sum(len(doc.ents) for doc in docs),
    }


def split_corpus(
    input_path: Union[str, Path],
    output_dir: Union[str, Path],
    *,
    sizes: Sequence[int] = (150, 300, 750, 1500, 3000),
    seeds: Sequence[int] = (1,),
    pool_size: int = DEFAULT_POOL_SIZE,
    pool_seed: int = DEFAULT_POOL_SEED,
    held_out: Sequence[Tuple[str, int]] = (),
) -> SplitReport:
    """Write the unlabeled pool and the labeled splits of a train corpus.

    input_path (Union[str, Path]): A .spacy file, one Doc per sentence.
    output_dir (Union[str, Path]): Where to write unlabeled.spacy,
        labeled-<size>-<seed>.spacy and split.json.
    sizes (Sequence[int]): Labeled split sizes (sentences).
    seeds (Sequence[int]): A labeled split per size and seed.
    pool_size (int): Sentences in the unlabeled pool; -1: the rest.
    pool_seed (int): The seed of the pool's (and held-out sets') draw.
    held_out (Sequence[Tuple[str, int]]): (name, size) of held-out sets with
        gold (e.g. test, dev), drawn first: ``<name>.spacy``.
    RETURNS (SplitReport): The counts.
    """
    input_path = Path(input_path)
    output_dir = Path(output_dir)
    if not input_path.is_file():
        raise SplitError(f"No .spacy file at {input_path}.")
    docs = list(DocBin(store_user_data=True).from_disk(input_path).get_docs(Vocab()))
    candidates = [i for i, doc in enumerate(docs) if len(doc)]
    splits = split_indices(
        len(docs),
        candidates,
        sizes=sizes,
        seeds=seeds,
        pool_size=pool_size,
        pool_seed=pool_seed,
        held_out=held_out,
    )
    n_pool = len(splits[UNLABELED])
    n_held = sum(len(splits[f"{name}.spacy"]) for name, _ in held_out)
    report = SplitReport(
        n_input=len(docs),
        n_empty=len(docs) - len(candidates),
        n_pool=n_pool,
        n_rest=len(candidates) - n_held - n_pool,
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, indices in splits.items():
        if name == UNLABELED:
            selected = [unlabeled_copy(docs[i]) for i in indices]
        else:
            selected = [docs[i] for i in indices]
        DocBin(store_user_data=True, docs=selected).to_disk(output_dir / name)
        report.files[name] = _counts(selected)
    summary: Dict[str, Any] = {
        "input": str(input_path),
        "pool_size": pool_size,
        "pool_seed": pool_seed,
        "held_out": dict(held_out),
        "sizes": list(sizes),
        "seeds": list(seeds),
        "draw": "sentences with the smallest sha256(f'{seed}:{index}')",
        **asdict(report),
    }
    (output_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    return report


app = typer.Typer(add_completion=False)


@app.command()
def split_cli(
    input_path: Path = Arg(
        ..., help="Train corpus: a .spacy file, one Doc per sentence", exists=True
    ),
    output_dir: Path = Arg(..., help="Output directory", file_okay=False),
    sizes: str = Opt(
        "150,300,750,1500,3000",
        "--sizes",
        "-n",
        help="Comma-separated labeled split sizes (sentences)",
    ),
    seeds: str = Opt("1", "--seeds", "-s", help="Comma-separated seeds"),
    pool_size: int = Opt(
        DEFAULT_POOL_SIZE,
        "--pool-size",
        "-p",
        min=-1,
        help="Unlabeled pool size; -1: all sentences outside the held-out sets "
        "and the largest labeled split",
    ),
    pool_seed: int = Opt(
        DEFAULT_POOL_SEED, "--pool-seed", help="Seed of the unlabeled pool's draw"
    ),
    held_out: str = Opt(
        "",
        "--held-out",
        help="Held-out sets with gold drawn first, NAME=SIZE comma-separated "
        "(e.g. test=600,dev=200): OUTPUT_DIR/NAME.spacy",
    ),
):
    """
    Draw a fixed unlabeled pool (gold entities removed) once, with --pool-seed,
    and for each size and seed a labeled split from the sentences outside the
    pool: OUTPUT_DIR/unlabeled.spacy and OUTPUT_DIR/labeled-<size>-<seed>.spacy.
    Draws are deterministic (ranked by sha256 of "<seed>:<index>"); for one
    seed, smaller splits are part of larger ones. --held-out draws sets with
    gold (test, dev) first, for a corpus that has none of its own.
    """
    try:
        report = split_corpus(
            input_path,
            output_dir,
            sizes=string_to_list(sizes, intify=True),
            seeds=string_to_list(seeds, intify=True),
            pool_size=pool_size,
            pool_seed=pool_seed,
            held_out=parse_held_out(held_out),
        )
    except SplitError as err:
        msg.fail(str(err), exits=1)
    print_report(report, output_dir)


def parse_held_out(text: str) -> List[Tuple[str, int]]:
    """`test=600,dev=200` as [("test", 600), ("dev", 200)].

    RAISES SplitError: An item that is not NAME=SIZE with a positive SIZE.
    """
    items = []
    for item in string_to_list(text) if text else []:
        name, _, size = item.partition("=")
        if not name or not size.isdigit():
            raise SplitError(f"--held-out takes NAME=SIZE items, got {item!r}.")
        items.append((name, int(size)))
    return items


def print_report(report: SplitReport, output_dir: Path) -> None:
    """Print the counts of the written files."""
    msg.info(
        f"{report.n_input:,} docs read ({report.n_empty:,} empty), pool of "
        f"{report.n_pool:,}, {report.n_rest:,} outside the pool"
    )
    rows = [
        (name, f"{c['docs']:,}", f"{c['tokens']:,}", f"{c['entities']:,}")
        for name, c in report.files.items()
    ]
    msg.table(
        rows, header=("file", "docs", "tokens", "entities"), aligns=("l", "r", "r", "r")
    )
    msg.good(f"Wrote {len(report.files)} files to {output_dir}")


if __name__ == "__main__":
    app()
