"""The typer app that groups this plugin's commands.

It hangs under spaCy's own CLI as ``python -m spacy kd-ner <command>``, through
the ``spacy_cli`` entry point: the one way to call them.
"""

import typer
from spacy.cli._util import app

NAME = "kd-ner"
HELP = "spacy-kd-ner: convert data, annotate with a teacher, evaluate, benchmark."

kd_app = typer.Typer(name=NAME, help=HELP, no_args_is_help=True)
app.add_typer(kd_app)
