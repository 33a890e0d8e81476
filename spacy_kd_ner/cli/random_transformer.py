from pathlib import Path

from spacy.cli._util import Arg, Opt
from wasabi import msg

from ..random_transformer import SHAPES, save_random_transformer
from ._app import kd_app


@kd_app.command("random-transformer")
def random_transformer_cli(
    output_dir: Path = Arg(..., help="Output directory", file_okay=False),
    shape: str = Opt("tiny", "--shape", help=f"One of {', '.join(SHAPES)}"),
    seed: int = Opt(0, "--seed", help="Seed of the random weights"),
):
    """
    Save a BERT with random weights (tiny: for smoke runs; bert-base: for speed
    comparisons only) and the packaged MiniLM's tokenizer, as save_pretrained
    does. Use the directory as --paths.teacher.
    """
    try:
        path = save_random_transformer(output_dir, shape, seed=seed)
    except ValueError as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Saved a random {shape}-shaped BERT to {path}")
