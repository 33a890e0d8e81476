"""The student as a user deploys it: size on disk and peak memory.

    python scripts/deployment.py packages/en_X-0.1.0/dist/en_X-0.1.0-py3-none-any.whl \
        corpus/test.spacy --output results/all/deployment.json

Creates a fresh virtual environment, installs torch (pinned as the README's
set-up does), this project without extras (spaCy, thinc, torch: no
transformers) and the student's wheel, then, in that environment, loads the
package and tags every doc of the corpus (`nlp.pipe`, batch 128). Writes the
wheel's size, the installed package's size, the tagging process's peak RSS,
the entities found and whether transformers was imported, with the run
record.
"""

import json
import subprocess
import tempfile
import venv
from pathlib import Path
from typing import Any, Dict

import srsly
import typer
from wasabi import msg

from spacy_kd_ner.provenance import run_record

ROOT = Path(__file__).resolve().parent.parent
TORCH = "torch==2.13.0"

# Runs inside the deployment environment: argv = package name, corpus.
TAG_SCRIPT = """
import json, resource, sys
import spacy
from spacy.tokens import Doc, DocBin

name, corpus = sys.argv[1], sys.argv[2]
nlp = spacy.load(name)
gold = DocBin().from_disk(corpus).get_docs(nlp.vocab)
docs = [
    Doc(nlp.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d])
    for d in gold
]
entities = sum(len(doc.ents) for doc in nlp.pipe(docs, batch_size=128))
print(json.dumps({
    "docs": len(docs),
    "entities": entities,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "package_dir": str(nlp.path),
    "transformers_imported": "transformers" in sys.modules,
}))
"""


def directory_mb(path: Path) -> float:
    """The size of the files under `path`, in MB (10^6 bytes)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def pip(python: Path, *args: str) -> None:
    """`python -m pip install --quiet ARGS` in the environment; failing ends
    the script with pip's exit code."""
    code = subprocess.run([str(python), "-m", "pip", "install", "-q", *args]).returncode
    if code != 0:
        msg.fail(f"pip install {' '.join(args)} failed with exit code {code}")
        raise SystemExit(code)


def measure(wheel: Path, corpus: Path, env_dir: Path) -> Dict[str, Any]:
    """Install and tag in a fresh environment at `env_dir`; the figures."""
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    pip(python, TORCH)
    pip(python, str(ROOT))
    pip(python, str(wheel))
    package = wheel.name.split("-")[0]
    out = subprocess.run(
        [str(python), "-c", TAG_SCRIPT, package, str(corpus)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        msg.fail(f"Tagging in the deployment environment failed:\n{out.stderr}")
        raise SystemExit(out.returncode)
    tagged = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "wheel": wheel.name,
        "wheel_mb": round(wheel.stat().st_size / 1e6, 2),
        "package_mb": round(directory_mb(Path(tagged.pop("package_dir"))), 2),
        "peak_rss_mb": round(tagged.pop("peak_rss_mb"), 1),
        **tagged,
    }


def main(
    wheel: Path = typer.Argument(..., help="The student's wheel", exists=True),
    corpus: Path = typer.Argument(..., help="A .spacy file to tag", exists=True),
    output: Path = typer.Option(..., help="JSON to write"),
) -> None:
    """Measure the student's wheel in a fresh deployment environment."""
    with tempfile.TemporaryDirectory(prefix="kd-ner-deploy-") as tmp:
        result = measure(wheel.resolve(), corpus.resolve(), Path(tmp) / "env")
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, {**result, "run": run_record()})
    msg.good(
        f"{result['wheel']}: wheel {result['wheel_mb']} MB, installed "
        f"{result['package_mb']} MB, peak RSS {result['peak_rss_mb']} MB tagging "
        f"{result['docs']:,} docs -> {output}"
    )


if __name__ == "__main__":
    typer.run(main)
