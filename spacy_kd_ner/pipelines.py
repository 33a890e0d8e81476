"""The one way the package's commands load a pipeline by name or path: spaCy's
`util.load_model`, after a check that turns a path that holds no pipeline
into an error that says what to pass instead (a training output directory:
"did you mean training/teacher/model-best?")."""

from pathlib import Path
from typing import Any, Union

from spacy import util
from spacy.language import Language

from .errors import KdNerError

TRAINING_OUTPUTS = ("model-best", "model-last")
"""The pipelines `spacy train` saves into its output directory, best first."""


class PipelineLoadError(KdNerError, OSError):
    """A name or path that is no saved pipeline and no installed package."""


def check_pipeline_path(name: Union[str, Path]) -> None:
    """Check that `name` is a pipeline directory (it holds a config.cfg), an
    installed pipeline package or a `blank:<lang>` name, before spaCy tries
    to load it.

    name (Union[str, Path]): The pipeline's path or package name.
    RAISES PipelineLoadError: Anything else. The message names the path and,
        for a directory that holds pipelines (a `spacy train` output: its
        model-best and model-last), them: "did you mean <path>/model-best?".
    """
    if isinstance(name, str) and name.startswith("blank:"):
        return
    path = Path(name)
    if path.is_dir():
        if (path / "config.cfg").exists():
            return
        inside = sorted(p.parent.name for p in path.glob("*/config.cfg"))
        hint = ""
        if inside:
            best = next((n for n in TRAINING_OUTPUTS if n in inside), inside[0])
            hint = (
                f" It holds {', '.join(inside)}: pick one. Did you mean {path / best}?"
            )
        raise PipelineLoadError(
            f"{path} is not a saved spaCy pipeline (no config.cfg).{hint}"
        )
    if not path.exists() and util.is_package(str(name)):
        return
    raise PipelineLoadError(
        f"There is no pipeline directory or installed pipeline package named {name}."
    )


def load_pipeline(name: Union[str, Path], **kwargs: Any) -> Language:
    """Load a pipeline with spaCy's `util.load_model`, after
    `check_pipeline_path` and, for a directory, a check that it holds the
    meta.json that spaCy reads first.

    name (Union[str, Path]): The pipeline's path or package name, or
        `blank:<lang>`.
    **kwargs: Passed to `util.load_model` (`exclude`, `config`, ...).
    RETURNS (Language): The pipeline.
    RAISES PipelineLoadError: `name` is no pipeline (see
        `check_pipeline_path`), or a directory without meta.json.
    """
    check_pipeline_path(name)
    path = Path(name)
    if path.is_dir() and not (path / "meta.json").exists():
        raise PipelineLoadError(f"{path} is not a saved spaCy pipeline (no meta.json).")
    return util.load_model(name, **kwargs)
