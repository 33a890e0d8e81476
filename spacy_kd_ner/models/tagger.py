"""The entity tagger: encoder -> linear -> (CRF), scoring every BILUO tag of
every token."""

from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Linear, Model, chain, with_array
from thinc.types import Floats2d

from .crf_layer import build_crf_layer_v1


@registry.architectures("spacy-kd-ner.EntityTagger.v1")
def build_entity_tagger_v1(
    encoder: Model[List[Doc], List[Floats2d]],
    nO: Optional[int] = None,
    crf: bool = True,
) -> Model[List[Doc], List[Floats2d]]:
    """Build the tagger: one row of tag scores (emissions) per token.

    encoder (Model[List[Doc], List[Floats2d]]): Token vectors: the LSTM-CNN for
        the student, a TransformerListener for the teacher.
    nO (Optional[int]): The number of BILUO tags; inferred at initialization.
    crf (bool): Add a CRF layer with learned transition scores; without it the
        head is a softmax over each token's emissions.
    """
    output_layer = Linear(nO=nO)
    model = chain(encoder, with_array(output_layer))
    if crf:
        crf_layer = build_crf_layer_v1(nO=nO)
        model = chain(model, crf_layer)
        model.set_ref("crf", crf_layer)
    model.set_ref("encoder", encoder)
    model.set_ref("tok2vec", encoder)
    model.set_ref("output_layer", output_layer)
    return model
