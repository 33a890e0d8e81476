"""Render the out-of-domain study (issue 26): CoNLL models on WNUT-16 tweets.

Run as ``python scripts/ood_report.py RESULTS_DIR OUTPUT.md --split 750-1
[--readme README.md --block ood]`` from the project directory.

The project's `ood-*` commands write, under RESULTS_DIR (results/ood),
``<model>.json`` (`kd-ner evaluate` on the WNUT-16 test tweets, gold mapped
to CoNLL's types, the other types ignored regions, MISC not counted) and
``conll/<model>.json`` (the same model on CoNLL test; --conll names another
directory, e.g. results/paper for a grid split), for the models of
`MODELS`: ``teacher-<split>``, ``spacy-ner-<split>`` and
``student-<variant>-<split>-s<system seed>``. This renders, for one split,

- a table of each model's CoNLL test F1 and its recall, precision and F1 on
  the tweets, with the recall per type;
- a table of each distilled student against its teacher out of domain: the
  recall gap, the share of the teacher's recall lead over the gold-only
  baseline that it keeps, and its CoNLL test F1 against the kd-pl student
  distilled on the CoNLL pool alone, with issue 26's targets (recall within
  3 points of the teacher, CoNLL F1 at most 0.5 below);
- a line naming the files, commits and dates (`report.py`'s
  `render_sources`).

Models whose files are missing are left out. With --readme, the
gap table replaces the lines between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``.
"""

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import typer
from spacy.cli._util import Arg, Opt
from wasabi import msg

from report import (
    check_run_record,
    markdown_table,
    pct,
    read_json,
    render_sources,
    write_markdown,
)

# Model name prefix -> its title; the distilled students are the rows of the
# gap table, against the teacher, the baseline and `REFERENCE`.
MODELS: Dict[str, str] = {
    "teacher": "teacher",
    "spacy-ner": "spaCy ner",
    "student-baseline": "baseline (gold only)",
    "student-baseline-lc": "baseline, case-blind",
    "student-kd-pl": "kd-pl, CoNLL pool",
    "student-kd-pl-lc": "kd-pl, CoNLL pool, case-blind",
    "student-kd-pl-frozen": "kd-pl, CoNLL pool, frozen word table",
    "student-kd-pl-perturbed": "kd-pl, CoNLL pool + perturbed copy",
    "student-kd-pl-tweets": "kd-pl, CoNLL pool + tweets",
    "student-kd-pl-tweets-lc": "kd-pl, CoNLL pool + tweets, case-blind",
    "student-kd-pl-tweets-frozen": "kd-pl, CoNLL pool + tweets, frozen word table",
    "student-kd-pl-tweets-only": "kd-pl, tweets instead of the pool",
    "student-kd-pl-swapped": "kd-pl, CoNLL pool + tweets + entity-swapped tweets",
    "student-kd-pl-conll-priors": "kd-pl, CoNLL pool, teacher's word priors",
    "student-kd-pl-tweets-priors": "kd-pl, CoNLL pool + tweets, teacher's word priors",
}
TEACHER, BASELINE, REFERENCE = "teacher", "student-baseline", "student-kd-pl"
DISTILLED = [name for name in MODELS if name.startswith("student-kd-pl")]
TYPES = ("PER", "LOC", "ORG")
CONLL = "conll"
# Issue 26's targets for the adapted student.
MAX_RECALL_GAP = 3.0
MAX_CONLL_DROP = 0.5


def model_file(name: str, split: str, system_seed: int) -> str:
    """The results file name of a model of the split."""
    suffix = f"-s{system_seed}" if name.startswith("student-") else ""
    return f"{name}-{split}{suffix}.json"


def read_results(
    results_dir: Path, split: str, system_seed: int, conll_dir: Optional[Path] = None
) -> Dict[str, Dict[str, Any]]:
    """Each model's scores that exist: ``{"ood": ..., "conll": ...}`` (either
    may be missing), each file checked to carry its run record.

    conll_dir (Optional[Path]): Where the CoNLL test scores are; by default
        ``<results_dir>/conll``.

    RAISES ValueError: No out-of-domain results for the split, or a file
        without a run record.
    """
    found: Dict[str, Dict[str, Any]] = {}
    for name in MODELS:
        file_name = model_file(name, split, system_seed)
        for key, path in (
            ("ood", results_dir / file_name),
            (CONLL, (conll_dir or results_dir / CONLL) / file_name),
        ):
            if path.exists():
                data = read_json(path)
                check_run_record(data, path)
                found.setdefault(name, {})[key] = {"path": path, **data}
    if not any("ood" in scores for scores in found.values()):
        raise ValueError(
            f"No out-of-domain results for the split {split} in {results_dir} "
            f"(expected e.g. {model_file(TEACHER, split, system_seed)})."
        )
    return found


def _micro(scores: Mapping[str, Any], key: str) -> Optional[float]:
    return scores["micro"][key] if scores else None


def _recall(results: Mapping[str, Mapping[str, Any]], name: str) -> Optional[float]:
    scores = results.get(name, {}).get("ood")
    return _micro(scores, "r") if scores else None


def _conll_f1(results: Mapping[str, Mapping[str, Any]], name: str) -> Optional[float]:
    scores = results.get(name, {}).get(CONLL)
    return _micro(scores, "f") if scores else None


def render_scores_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """CoNLL test F1, then micro R/P/F1 and recall per type on the tweets."""
    header = ["model", "CoNLL test F1", "tweets R", "P", "F1"]
    header += [f"{label} R" for label in TYPES]
    rows: List[Sequence[str]] = []
    for name, title in MODELS.items():
        if name not in results:
            continue
        ood = results[name].get("ood")
        per_type = ood["per_type"] if ood else {}
        rows.append(
            [
                title,
                pct(_conll_f1(results, name)),
                *(pct(_micro(ood, key) if ood else None) for key in "rpf"),
                *(pct(per_type.get(label, {}).get("r")) for label in TYPES),
            ]
        )
    return markdown_table(header, rows, "l" + "r" * (len(header) - 1))


def _diff(value: Optional[float], other: Optional[float]) -> Optional[float]:
    return None if value is None or other is None else value - other


def _signed(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f}"


def _target(value: Optional[float], limit: float) -> str:
    if value is None:
        return ""
    return " (met)" if 100 * value >= -limit - 1e-9 else " (missed)"


def render_gaps_table(results: Mapping[str, Mapping[str, Any]]) -> Optional[str]:
    """Each distilled student against its teacher on the tweets and against
    the CoNLL-pool kd-pl on CoNLL test; None without a teacher's recall."""
    teacher_r, baseline_r = _recall(results, TEACHER), _recall(results, BASELINE)
    if teacher_r is None:
        return None
    reference_f1 = _conll_f1(results, REFERENCE)
    rows = []
    for name in DISTILLED:
        recall = _recall(results, name)
        if recall is None:
            continue
        lead = _diff(teacher_r, baseline_r)
        kept = _diff(recall, baseline_r) / lead if lead else None  # type: ignore[operator]
        gap = recall - teacher_r
        drop = (
            None if name == REFERENCE else _diff(_conll_f1(results, name), reference_f1)
        )
        rows.append(
            [
                MODELS[name],
                _signed(gap) + _target(gap, MAX_RECALL_GAP),
                "n/a" if kept is None else f"{100 * kept:.0f}%",
                ""
                if name == REFERENCE
                else _signed(drop) + _target(drop, MAX_CONLL_DROP),
            ]
        )
    if not rows:
        return None
    header = [
        "student",
        f"tweets R - teacher (target >= -{MAX_RECALL_GAP:g})",
        "teacher's recall lead over baseline kept",
        f"CoNLL F1 - kd-pl, CoNLL pool (target >= -{MAX_CONLL_DROP:g})",
    ]
    return markdown_table(header, rows, "lrrr")


def render(
    results_dir: Path,
    split: str,
    system_seed: int,
    base: Path,
    conll_dir: Optional[Path] = None,
    full: bool = True,
) -> str:
    """The Markdown tables of one split's out-of-domain results and their
    sources line (`read_results` reads them).

    base (Path): The directory of the document that links the files.
    full (bool): Also the scores table; False: the gaps only (a README's
        block).
    """
    results = read_results(results_dir, split, system_seed, conll_dir)
    parts = [render_scores_table(results)] if full else []
    gaps = render_gaps_table(results)
    if gaps is not None:
        parts.append(gaps)
    records = {
        scores["path"]: scores["run"]
        for model in results.values()
        for scores in model.values()
    }
    parts.append(render_sources(records, base))
    return "\n\n".join(parts)


app = typer.Typer(add_completion=False)


@app.command()
def ood_report_cli(
    results_dir: Path = Arg(..., help="The study's results", file_okay=False),
    output: Path = Arg(..., help="Output Markdown file", dir_okay=False),
    split: str = Opt("750-1", "--split", "-s", help="The CoNLL split: SIZE-SEED"),
    system_seed: int = Opt(0, "--system-seed", help="The students' system.seed"),
    conll: Optional[Path] = Opt(
        None, "--conll", help="The CoNLL test scores; default RESULTS_DIR/conll"
    ),
    readme: Optional[Path] = Opt(
        None, "--readme", "-r", help="Also put the tables into this document"
    ),
    block: str = Opt(
        "ood", "--block", "-b", help="The README's <!-- BLOCK:start --> marker"
    ),
) -> None:
    """
    Render the out-of-domain study of one CoNLL split (CoNLL test F1 and
    recall on the WNUT-16 tweets of teacher, spaCy ner and students; each
    distilled student's gap to its teacher) as Markdown; with --readme also
    between the README's block markers.
    """
    try:
        write_markdown(
            output,
            f"Out of domain: `{results_dir}`, split {split}",
            lambda base: render(results_dir, split, system_seed, base, conll),
            readme,
            block,
            render_readme=lambda base: render(
                results_dir, split, system_seed, base, conll, full=False
            ),
        )
    except (OSError, ValueError) as err:
        msg.fail("Cannot write the out-of-domain report", str(err), exits=1)
    msg.good(f"Saved {output}" + (f" and updated {readme}" if readme else ""))


if __name__ == "__main__":
    app()
