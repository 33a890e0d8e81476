"""Which docs a pipeline tags differently in bf16 than in fp32.

    python scripts/compare_precision.py MODEL CORPUS --output results/precision/X.json

Tags the docs of CORPUS (a .spacy file or a directory of them) twice, in fp32
and in bf16 (`spacy_kd_ner.precision.in_precision`: a teacher's
``with_precision`` layers set, a student run under CPU autocast), and writes
how many docs' entities differ (start, end, label), the entity counts of both
and a few of the differing docs, with the run record. `kd-ner evaluate
--precision` gives the F1 of each.
"""

from pathlib import Path
from typing import Any, Dict, List, Tuple

import srsly
import typer
from spacy.tokens import Doc
from wasabi import msg

from spacy_kd_ner.doc_text import unannotated_copy
from spacy_kd_ner.evaluation import load_docs
from spacy_kd_ner.pipelines import load_pipeline
from spacy_kd_ner.precision import cpu_supports_bf16, in_precision
from spacy_kd_ner.provenance import run_record

Entities = List[Tuple[int, int, str]]
N_EXAMPLES = 5


def entities(doc: Doc) -> Entities:
    """The doc's entities as (start token, end token, label)."""
    return [(ent.start, ent.end, ent.label_) for ent in doc.ents]


def compare(
    fp32: List[Entities], bf16: List[Entities], texts: List[str]
) -> Dict[str, Any]:
    """Counts of the docs whose entities differ, and the first few of them.

    RETURNS (Dict[str, Any]): {"docs", "docs_differing", "entities_fp32",
        "entities_bf16", "examples"}.
    """
    differing = [i for i, (a, b) in enumerate(zip(fp32, bf16)) if a != b]
    return {
        "docs": len(fp32),
        "docs_differing": len(differing),
        "entities_fp32": sum(len(e) for e in fp32),
        "entities_bf16": sum(len(e) for e in bf16),
        "examples": [
            {"text": texts[i], "fp32": fp32[i], "bf16": bf16[i]}
            for i in differing[:N_EXAMPLES]
        ],
    }


def main(
    model: str = typer.Argument(..., help="Pipeline directory or package name"),
    corpus: Path = typer.Argument(..., help=".spacy file or directory", exists=True),
    output: Path = typer.Option(..., help="JSON to write"),
    batch_size: int = typer.Option(128, min=1, help="nlp.pipe batch size"),
) -> None:
    """Count the docs of CORPUS that MODEL tags differently in bf16."""
    if not cpu_supports_bf16():
        msg.fail("This CPU has neither AMX nor AVX512-BF16: bf16 would be emulated")
        raise SystemExit(1)
    nlp = load_pipeline(model)
    docs = [unannotated_copy(nlp.vocab, doc) for doc in load_docs(corpus, nlp.vocab)]
    predicted: Dict[str, List[Entities]] = {}
    for precision in ("fp32", "bf16"):
        with in_precision(nlp, precision):
            copies = (unannotated_copy(nlp.vocab, doc) for doc in docs)
            tagged = nlp.pipe(copies, batch_size=batch_size)
            predicted[precision] = [entities(doc) for doc in tagged]
    result = compare(predicted["fp32"], predicted["bf16"], [d.text for d in docs])
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, {"model": model, **result, "run": run_record()})
    msg.good(
        f"{result['docs_differing']:,} of {result['docs']:,} docs differ "
        f"({result['entities_fp32']:,} entities in fp32, "
        f"{result['entities_bf16']:,} in bf16) -> {output}"
    )


if __name__ == "__main__":
    typer.run(main)
