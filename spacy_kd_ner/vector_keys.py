"""Cased keys for lowercase static vectors, for spaCy's own components.

GloVe 6B (the project's vectors, see `vectors.py`) holds lowercase words only,
and a spaCy vectors table looks tokens up by `ORTH` (the table's `attr`, which
spaCy saves only for floret vectors). spaCy's `StaticVectors` layer (in
`MultiHashEmbed.v2` with `include_static_vectors = true`) would then find no
vector for "London" or "EU", nor for most entity tokens, which are
capitalized. The student looks its words up lowercase itself; for spaCy's
`ner`, `add_cased_vector_keys` maps the title-case, capitalized and upper-case
forms of every word to the row of the word (`Vectors.add(key, row=row)`: the
table's data does not change, only `key2row` grows and is saved with the
pipeline). Use it as an `[initialize]` callback:

    [initialize.after_init]
    @callbacks = "spacy-kd-ner.CasedVectorKeys.v1"
"""

from typing import Callable, Iterable, Optional, Set

from spacy.language import Language
from spacy.strings import StringStore, get_string_id
from spacy.util import registry
from spacy.vectors import Mode, Vectors


def cased_variants(word: str) -> Set[str]:
    """The title-case, capitalized and upper-case forms of a word, except the
    word itself.

    word (str): The word.
    RETURNS (Set[str]): Its other cased forms ("new york" -> "New York",
        "New york", "NEW YORK").
    """
    return {word.title(), word.capitalize(), word.upper()} - {word}


def add_cased_vector_keys(
    vectors: Vectors, strings: StringStore, *, keys: Optional[Iterable[int]] = None
) -> int:
    """Map the cased forms (`cased_variants`) of the words of a vectors table
    to their rows, where the table has no key for that form yet.

    vectors (Vectors): The table (default mode; floret tables are left as
        they are: they build vectors from subwords).
    strings (StringStore): The strings of the keys (the pipeline's).
    keys (Optional[Iterable[int]]): The keys to add forms for; by default every key of
        the table that `strings` knows.
    RETURNS (int): The number of keys added.
    """
    if vectors.mode != Mode.default:
        return 0
    key2row = vectors.key2row
    added = 0
    for key in list(key2row if keys is None else keys):
        if key not in key2row or key not in strings:
            continue
        row = key2row[key]
        for variant in sorted(cased_variants(strings[key])):
            variant_key = get_string_id(variant)
            if variant_key not in key2row:
                vectors.add(variant_key, row=row)
                added += 1
    return added


@registry.callbacks("spacy-kd-ner.CasedVectorKeys.v1")
def create_cased_vector_keys_v1() -> Callable[[Language], Language]:
    """An `[initialize]` callback (`after_init`) that runs
    `add_cased_vector_keys` on the pipeline's vectors, so that spaCy's
    `StaticVectors` (which looks tokens up by `ORTH`) finds lowercase vectors
    for cased tokens.

    RETURNS (Callable[[Language], Language]): The callback.
    """

    def add_keys(nlp: Language) -> Language:
        vectors = nlp.vocab.vectors
        if isinstance(vectors, Vectors):
            add_cased_vector_keys(vectors, nlp.vocab.strings)
        return nlp

    return add_keys
