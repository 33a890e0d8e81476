"""`kd-ner word-priors`: a teacher's prior of each word's entity type, for a
student that reads them (`LSTMCNNEncoder.v4`, `word_priors.py`)."""

import time
from pathlib import Path
from typing import List, Optional

import srsly
import tqdm
from spacy.cli._util import Arg, Opt, import_code, setup_gpu
from wasabi import msg

from ..errors import InputError
from ..pipelines import load_pipeline
from ..precision import pipeline_precision, set_precision
from ..provenance import run_record
from ..teacher_priors import compute_word_priors
from ..vectors import load_glove
from ..word_priors import save_word_priors
from ._app import kd_app
from ._util import code_opt, fail_on_known_errors, gpu_opt


@kd_app.command("word-priors")
@fail_on_known_errors
def word_priors_cli(
    model: str = Arg(
        ...,
        help="Teacher pipeline (name or path): one with a kd_ner component, or "
        "any that sets doc.ents",
    ),
    output_path: Path = Arg(..., help="Output .npz file", dir_okay=False),
    glove_words: int = Opt(
        100000,
        "--glove-words",
        min=1,
        help="Ask about the N most frequent words of the packaged GloVe 6B",
    ),
    words_path: Optional[Path] = Opt(
        None,
        "--words",
        help="Ask about the words of this file instead (one per line, UTF-8)",
        exists=True,
        dir_okay=False,
    ),
    min_prior: float = Opt(
        0.05,
        "--min-prior",
        min=0.0,
        max=1.0,
        help="Keep only words with a prior of at least this for some type",
    ),
    batch_size: int = Opt(256, "--batch-size", "-b", min=1, help="Batch size"),
    component: Optional[str] = Opt(
        None, "--component", help="The kd_ner component (if there are several)"
    ),
    precision: Optional[str] = Opt(
        None,
        "--precision",
        help="The teacher's precision on the CPU: fp32, bf16 or auto; default: its own",
    ),
    stats_path: Optional[Path] = Opt(
        None,
        "--stats",
        help="Also write the counts and time as JSON, with the run's command, "
        "commit, date and machine",
        dir_okay=False,
    ),
    use_gpu: int = gpu_opt(),
    code_path: Optional[Path] = code_opt(),
):
    """
    Ask a trained teacher about each word of a vocabulary on its own (a
    one-word doc each; by default the most frequent GloVe words) and write,
    per word, its probability of each entity type. A student whose encoder is
    spacy-kd-ner.LSTMCNNEncoder.v4 with prior_dim = the number of types reads
    them beside its word embeddings: set [initialize.components.kd_ner]
    word_priors to the file. Words with no prior of at least --min-prior are
    left out (they read as zeros, as unknown words).
    """
    import_code(code_path)
    setup_gpu(use_gpu)
    if words_path is not None:
        words = read_words(words_path)
    else:
        words, _ = load_glove(limit=glove_words)
    nlp = load_pipeline(model)
    if precision is not None:
        set_precision(nlp, precision)
    start = time.time()
    with tqdm.tqdm(total=len(words), unit="word", leave=False) as bar:
        priors = compute_word_priors(
            nlp,
            words,
            batch_size=batch_size,
            min_prior=min_prior,
            component=component,
            on_batch=bar.update,
        )
    seconds = time.time() - start
    output_path.parent.mkdir(parents=True, exist_ok=True)
    save_word_priors(priors, output_path)
    size = output_path.stat().st_size
    msg.good(
        f"Kept {len(priors.keys):,} of {priors.n_words:,} words (types: "
        f"{', '.join(priors.labels)}) in {seconds:.1f}s -> {output_path} "
        f"({size / 2**20:.2f} MiB)"
    )
    if stats_path is not None:
        stats_path.parent.mkdir(parents=True, exist_ok=True)
        stats = {
            "teacher": model,
            "words": priors.n_words,
            "kept": len(priors.keys),
            "labels": priors.labels,
            "min_prior": min_prior,
            "seconds": round(seconds, 1),
            "precision": pipeline_precision(nlp),
            "size_bytes": size,
            "run": run_record(),
        }
        srsly.write_json(stats_path, stats)
        msg.good(f"Stats -> {stats_path}")


def read_words(path: Path) -> List[str]:
    """The non-blank lines of a UTF-8 file, stripped.

    RAISES InputError: The file is not UTF-8, or has no words.
    """
    try:
        text = path.read_text(encoding="utf8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not UTF-8 text: {err}") from err
    words = [line.strip() for line in text.splitlines() if line.strip()]
    if not words:
        raise InputError(f"{path} has no words (one per line).")
    return words
