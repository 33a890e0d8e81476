"""Type aliases shared by the models, the loss and the pipe."""

from typing import List

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d, Ints1d

TagScores = List[Floats2d]
"""One (n_tokens, n_tags) array of unnormalised scores (emissions) per doc."""

TagIds = List[Ints1d]

EncoderT = Model[List[Doc], List[Floats2d]]
TaggerT = Model[List[Doc], TagScores]

__all__ = ["TagScores", "TagIds", "EncoderT", "TaggerT", "Doc"]
