"""Perturbed copies of an unlabeled pool, for distilling a student that
follows its teacher on text unlike the pool's (issue 26's levers).

    python scripts/perturb.py corpus/splits/unlabeled.spacy \
        corpus/perturbed/unlabeled.spacy --lower 0.5 --drop 0.1 --seed 1

Each doc of the input gets one perturbed copy: with probability ``lower`` all
its words are lowercased (as in tweets), and each word is dropped with
probability ``drop`` (at least one word is kept). The copies hold words and
spaces only, with no entity annotation, so the teacher annotates them as it
sees them and the student learns the teacher's view of the changed text. A
copy that comes out the same as its doc is kept and counted. The draws come
from ``random.Random(seed)``: the same input, settings and seed write the same
copies. (spaCy's lower-casing augmenter, ``spacy.lower_case.v1``, changes
Examples inside the training reader, after annotation, and draws from the
global ``random``; the teacher has to see the perturbed text, so the copies
are made before it annotates.)

`swap_entities` makes the adaptation lever's copies: each doc with entities
(the teacher's pseudo-labels, as `ood.py swap` reads them) gets copies whose
entities are replaced by others of the same label from a bank
(`entity_bank`), so that the student sees many names in the new text's
contexts, each labeled by the teacher when the copies are annotated.
"""

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import typer
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from wasabi import msg

from spacy_kd_ner.docbins import (
    CorpusPathError,
    DocBinError,
    docbin_paths,
    read_docbins,
)

app = typer.Typer(add_completion=False, no_args_is_help=True)


@dataclass
class PerturbCounts:
    """What `perturb_docs` did.

    docs (int): Docs read (each written once, perturbed).
    lowered (int): Docs whose words were all lowercased.
    words_dropped (int): Words dropped over all docs.
    unchanged (int): Copies identical to their doc (kept).
    """

    docs: int = 0
    lowered: int = 0
    words_dropped: int = 0
    unchanged: int = 0


def perturb_doc(
    doc: Doc, rng: random.Random, *, lower: float, drop: float
) -> Tuple[Doc, bool, int]:
    """A perturbed copy of a non-empty doc: words and spaces only.

    RETURNS (Tuple[Doc, bool, int]): The copy, whether it was lowercased and
        how many words were dropped.
    """
    lowered = rng.random() < lower
    kept = [token for token in doc if rng.random() >= drop]
    if not kept:
        kept = [doc[rng.randrange(len(doc))]]
    words = [token.text.lower() if lowered else token.text for token in kept]
    spaces = [bool(token.whitespace_) for token in kept]
    spaces[-1] = False
    return Doc(doc.vocab, words=words, spaces=spaces), lowered, len(doc) - len(kept)


def perturb_docs(
    docs: Iterable[Doc], *, lower: float, drop: float, seed: int
) -> Tuple[List[Doc], PerturbCounts]:
    """One perturbed copy of each doc (`perturb_doc`), in order; empty docs are
    copied as they are (and counted unchanged).

    lower (float): Probability that a doc's words are all lowercased.
    drop (float): Probability that a word is dropped.
    seed (int): Seed of the draws.
    RETURNS (Tuple[List[Doc], PerturbCounts]): The copies and the counts.
    """
    if not (0.0 <= lower <= 1.0 and 0.0 <= drop < 1.0):
        raise ValueError(
            f"lower must be in [0, 1] and drop in [0, 1), got lower={lower}, "
            f"drop={drop}."
        )
    rng = random.Random(seed)
    counts = PerturbCounts()
    copies = []
    for doc in docs:
        counts.docs += 1
        if len(doc) == 0:
            copy = Doc(doc.vocab, words=[])
        else:
            copy, lowered, dropped = perturb_doc(doc, rng, lower=lower, drop=drop)
            counts.lowered += lowered
            counts.words_dropped += dropped
        counts.unchanged += copy.text == doc.text
        copies.append(copy)
    return copies, counts


# Label -> the distinct word sequences of its entities.
EntityBank = Dict[str, List[Tuple[str, ...]]]


@dataclass
class SwapCounts:
    """What `swap_entities` did.

    docs (int): Docs read.
    without_entities (int): Docs without entities (no copies).
    copies (int): Copies written.
    lowered (int): Entities inserted lowercased.
    """

    docs: int = 0
    without_entities: int = 0
    copies: int = 0
    lowered: int = 0


def entity_bank(docs: Iterable[Doc]) -> EntityBank:
    """The distinct words of the docs' entities by label, each label's sorted
    (so that a seed draws the same swaps from the same docs)."""
    seen: Dict[str, set] = {}
    for doc in docs:
        for ent in doc.ents:
            seen.setdefault(ent.label_, set()).add(tuple(t.text for t in ent))
    return {label: sorted(words) for label, words in sorted(seen.items())}


def swap_entities(
    docs: Iterable[Doc],
    bank: Mapping[str, Sequence[Tuple[str, ...]]],
    *,
    copies: int,
    lower: float = 0.0,
    seed: int,
) -> Tuple[List[Doc], SwapCounts]:
    """`copies` copies of each doc with entities, each entity replaced by a
    bank entry of its label drawn at random (the words around it and the
    spacing after it kept); docs without entities get none. The copies hold
    words and spaces only, in the docs' order.

    bank (Mapping[str, Sequence[Tuple[str, ...]]]): Label to entity words
        (`entity_bank`).
    lower (float): Probability that an inserted entity is lowercased.
    seed (int): Seed of the draws.
    RETURNS (Tuple[List[Doc], SwapCounts]): The copies and the counts.
    RAISES ValueError: A probability out of [0, 1], copies < 1, or an entity
        whose label has no bank entries.
    """
    if not 0.0 <= lower <= 1.0 or copies < 1:
        raise ValueError(
            f"lower must be in [0, 1] and copies >= 1, got lower={lower}, "
            f"copies={copies}."
        )
    rng = random.Random(seed)
    counts = SwapCounts()
    out = []
    for doc in docs:
        counts.docs += 1
        if not doc.ents:
            counts.without_entities += 1
            continue
        missing = sorted({e.label_ for e in doc.ents if not bank.get(e.label_)})
        if missing:
            raise ValueError(f"No entities of label(s) {missing} in the bank.")
        starts = {ent.start: ent for ent in doc.ents}
        for _ in range(copies):
            words: List[str] = []
            spaces: List[bool] = []
            i = 0
            while i < len(doc):
                ent = starts.get(i)
                if ent is None:
                    words.append(doc[i].text)
                    spaces.append(bool(doc[i].whitespace_))
                    i += 1
                    continue
                new = rng.choice(bank[ent.label_])
                if rng.random() < lower:
                    new = tuple(word.lower() for word in new)
                    counts.lowered += 1
                words.extend(new)
                spaces.extend([True] * (len(new) - 1) + [bool(ent[-1].whitespace_)])
                i = ent.end
            spaces[-1] = False
            out.append(Doc(doc.vocab, words=words, spaces=spaces))
            counts.copies += 1
    return out, counts


@app.command()
def perturb_cli(
    input_path: Path = typer.Argument(..., help="A .spacy file or a directory of them"),
    output_path: Path = typer.Argument(..., help="The .spacy file to write"),
    lower: float = typer.Option(0.5, help="Probability of lowercasing a doc"),
    drop: float = typer.Option(0.1, help="Probability of dropping a word"),
    seed: int = typer.Option(1, help="Seed of the draws"),
) -> None:
    """Write one perturbed copy (lowercased, words dropped) of each doc."""
    try:
        docs = list(read_docbins(docbin_paths(input_path), Vocab()))
        copies, counts = perturb_docs(docs, lower=lower, drop=drop, seed=seed)
    except (CorpusPathError, DocBinError, ValueError) as err:
        msg.fail(str(err), exits=1)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    DocBin(docs=copies, store_user_data=False).to_disk(output_path)
    msg.good(
        f"Wrote {counts.docs:,} perturbed docs to {output_path}: {counts.lowered:,} "
        f"lowercased, {counts.words_dropped:,} words dropped, {counts.unchanged:,} "
        f"unchanged"
    )


if __name__ == "__main__":
    app()
