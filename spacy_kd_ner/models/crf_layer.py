"""The CRF as a Thinc layer: it owns the transition scores.

Its forward pass is the identity on the emissions: decoding and the sequence
likelihood need the whole sequence and, for training, the gold tags, so the
pipe's decoder and the loss read the transition parameters from this layer
(``model.get_ref("crf")``) and the loss hands their gradient back to it.
"""

from typing import Callable, List, Optional, Tuple, cast

from thinc.api import Model, registry
from thinc.types import Floats1d, Floats2d

TRANSITIONS = "transitions"  # (nO, nO): score of tag j following tag i
START = "start"  # (nO,): score of starting with a tag
END = "end"  # (nO,): score of ending with a tag


@registry.layers("spacy-kd-ner.CRF.v1")
def build_crf_layer_v1(
    nO: Optional[int] = None,
) -> Model[List[Floats2d], List[Floats2d]]:
    """A linear-chain CRF's parameters over nO tags, zero-initialised.

    nO (Optional[int]): The number of tags; inferred at initialization from
        the width of Y (or X).
    RETURNS (Model[List[Floats2d], List[Floats2d]]): The layer.
    """
    return Model(
        "crf",
        forward,
        init=init,
        dims={"nO": nO},
        params={TRANSITIONS: None, START: None, END: None},
    )


def forward(
    model: Model[List[Floats2d], List[Floats2d]], X: List[Floats2d], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    """The identity on the emissions; its backprop passes gradients through."""
    return X, lambda dY: dY


def init(
    model: Model[List[Floats2d], List[Floats2d]],
    X: Optional[List[Floats2d]] = None,
    Y: Optional[List[Floats2d]] = None,
) -> None:
    """Set nO from the width of Y (or X) unless it is set, and allocate the
    zero potentials."""
    if not model.has_dim("nO"):
        sample = Y if Y else X
        if sample:
            model.set_dim("nO", sample[0].shape[1])
    nO = model.get_dim("nO")
    model.set_param(TRANSITIONS, model.ops.alloc2f(nO, nO))
    model.set_param(START, model.ops.alloc1f(nO))
    model.set_param(END, model.ops.alloc1f(nO))


def get_potentials(model: Model) -> Tuple[Floats2d, Floats1d, Floats1d]:
    """The (transitions, start, end) parameters of a CRF layer.

    model (Model): An initialized layer of ``build_crf_layer_v1``.
    RETURNS (Tuple[Floats2d, Floats1d, Floats1d]): The (nO, nO), (nO,) and
        (nO,) arrays, on the model's device.
    """
    return (
        cast(Floats2d, model.get_param(TRANSITIONS)),
        cast(Floats1d, model.get_param(START)),
        cast(Floats1d, model.get_param(END)),
    )


def inc_potential_grads(
    model: Model, d_transitions: Floats2d, d_start: Floats1d, d_end: Floats1d
) -> None:
    """Add the loss's gradient of the CRF parameters to the layer."""
    model.inc_grad(TRANSITIONS, d_transitions)
    model.inc_grad(START, d_start)
    model.inc_grad(END, d_end)
