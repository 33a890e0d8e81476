"""bfloat16 on the CPU for torch-backed layers: ``spacy-kd-ner.with_precision.v1``.

thinc's ``PyTorchShim`` autocasts only on CUDA (its ``mixed_precision``) and
spacy-transformers' ``mixed_precision`` does nothing on a CPU, while CPUs with
AMX or AVX512-BF16 (most server CPUs sold since 2023) run a transformer's
matrix products in bfloat16 several times faster than in float32. The layer
wraps another (the teacher's ``spacy-transformers.TransformerModel.v3``) and
runs its forward pass under ``torch.autocast("cpu", dtype=torch.bfloat16)``:
parameters, gradients and the optimizer stay float32, autocast runs the
matrix products (linear, matmul, attention) in bfloat16, and layer norms and
softmaxes in float32. Outputs that come out bfloat16 (a pooler's) are cast to
float32 in the graph, as thinc's conversion to numpy and the listeners need:
the tensors of a spacy-transformers ``FullTransformerBatch``'s
``model_output``, or a tensor returned as it is. The backward pass runs outside
autocast, as thinc's shim does on CUDA.

``precision`` is ``"fp32"``, ``"bf16"`` or ``"auto"``: bf16 where the CPU has
AMX or AVX512-BF16, else fp32. The setting is kept in the layer's attrs (saved
with the pipeline) and read at every call, so ``set_precision`` changes it on
a loaded pipeline (``kd-ner annotate --precision``). On a GPU the layer does
nothing: CUDA has the wrapped model's own ``mixed_precision``.
"""

import contextlib
import functools
from pathlib import Path
from typing import Callable, ContextManager, Iterator, Optional, Tuple, TypeVar, cast

import torch
from spacy.language import Language
from spacy.util import registry
from thinc.api import Model, get_current_ops

from .errors import InputError

PRECISIONS = ("fp32", "bf16", "auto")
# /proc/cpuinfo flags of CPUs with bfloat16 matrix instructions.
BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
LAYER_NAME = "with_precision"

InT = TypeVar("InT")
OutT = TypeVar("OutT")


@registry.layers("spacy-kd-ner.with_precision.v1")
def with_precision_v1(
    layer: Model[InT, OutT], precision: str = "auto"
) -> Model[InT, OutT]:
    """Run `layer`'s forward pass in `precision` on the CPU.

    layer (Model): A layer whose computation is torch (through a PyTorchShim),
        such as spacy-transformers' TransformerModel.v3. One that converts
        its torch outputs to arrays itself (a PyTorchWrapper) must return
        float32 under autocast, as a residual sum with a float32 input does.
    precision (str): "fp32", "bf16" or "auto" (bf16 where the CPU has AMX or
        AVX512-BF16, else fp32).
    RETURNS (Model): The layer, wrapped; its nO is the layer's.
    """
    check_precision(precision)
    return Model(
        LAYER_NAME,
        forward,
        init=init,
        layers=[layer],
        dims={"nO": None},
        attrs={"precision": precision},
    )


def forward(model: Model[InT, OutT], X: InT, is_train: bool) -> Tuple[OutT, Callable]:
    layer = model.layers[0]
    precision = resolve_precision(model.attrs["precision"], model.ops.device_type)
    with autocast(precision):
        Y, backprop = layer(X, is_train)
    if precision == "bf16":
        Y = _float32_outputs(Y)
    return Y, backprop


def _float32_outputs(Y: OutT) -> OutT:
    if isinstance(Y, torch.Tensor):
        return cast(OutT, _float32(Y))
    # spacy-transformers' FullTransformerBatch: a dict of torch tensors.
    outputs = getattr(Y, "model_output", None)
    if isinstance(outputs, dict):
        for key, value in outputs.items():
            if isinstance(value, torch.Tensor):
                outputs[key] = _float32(value)
    return Y


def _float32(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.is_floating_point() and tensor.dtype != torch.float32:
        return tensor.float()
    return tensor


def init(
    model: Model[InT, OutT], X: Optional[InT] = None, Y: Optional[OutT] = None
) -> None:
    layer = model.layers[0]
    layer.initialize(X=X, Y=Y)
    if layer.has_dim("nO"):
        model.set_dim("nO", layer.get_dim("nO"))


def check_precision(precision: str) -> None:
    """Raise `InputError` unless `precision` is one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise InputError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}."
        )


@contextlib.contextmanager
def in_precision(nlp: Language, precision: str) -> Iterator[int]:
    """Run `nlp` in `precision` inside the block, whether or not it was built
    with ``with_precision`` layers: where it has them, they are set to
    `precision` (and set back on exit); where it has none, the block runs
    under `autocast` of `precision` resolved for the current ops' device, so
    that the torch computations called in it (a student's encoder) run their
    matrix products in bfloat16. Autocast is per thread: call the pipeline in
    this thread (`nlp.pipe` with one process).

    nlp (Language): The pipeline.
    precision (str): "fp32", "bf16" or "auto".
    YIELDS (int): The number of ``with_precision`` layers set (0: autocast).
    """
    check_precision(precision)
    layers = list(_precision_layers(nlp))
    if not layers:
        with autocast(resolve_precision(precision, get_current_ops().device_type)):
            yield 0
        return
    before = [layer.attrs["precision"] for layer in layers]
    for layer in layers:
        layer.attrs["precision"] = precision
    try:
        yield len(layers)
    finally:
        for layer, value in zip(layers, before):
            layer.attrs["precision"] = value


def resolve_precision(precision: str, device_type: str = "cpu") -> str:
    """The precision a forward pass on `device_type` ("cpu" or "gpu") runs in:
    "fp32" or "bf16". "auto" is bf16 where the CPU supports it; on a GPU
    everything is fp32 here (CUDA mixed precision is the model's own)."""
    check_precision(precision)
    if device_type != "cpu":
        return "fp32"
    if precision == "auto":
        return "bf16" if cpu_supports_bf16() else "fp32"
    return precision


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has AMX or AVX512-BF16 (from /proc/cpuinfo's flags;
    False where there is no such file, as on macOS and Windows)."""
    try:
        text = cpuinfo.read_text(encoding="utf8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return not BF16_CPU_FLAGS.isdisjoint(line.split(":", 1)[-1].split())
    return False


def autocast(precision: str) -> ContextManager:
    """CPU autocast to bfloat16 for "bf16"; no change for "fp32"."""
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def pipeline_precision(nlp: Language) -> str:
    """The precision `nlp`'s transformer runs in on this machine: its
    ``with_precision`` layers' resolved (the first one's), or "fp32" where it
    has none."""
    for layer in _precision_layers(nlp):
        return resolve_precision(layer.attrs["precision"], layer.ops.device_type)
    return "fp32"


def set_precision(nlp: Language, precision: str) -> int:
    """Set the precision of every ``with_precision`` layer in `nlp`'s
    components and return how many there are. Raises `InputError` for an
    unknown precision, or where there is none to set (a pipeline built
    without the layer runs in float32)."""
    check_precision(precision)
    count = 0
    for layer in _precision_layers(nlp):
        layer.attrs["precision"] = precision
        count += 1
    if count == 0:
        raise InputError(
            "The pipeline has no precision setting (no spacy-kd-ner.with_precision.v1 "
            "layer): it runs in float32. Retrain it with the project's "
            "configs/teacher.cfg to choose its precision."
        )
    return count


def _precision_layers(nlp: Language) -> Iterator[Model]:
    for _name, component in nlp.components:
        model = getattr(component, "model", None)
        if isinstance(model, Model):
            yield from (node for node in model.walk() if node.name == LAYER_NAME)
