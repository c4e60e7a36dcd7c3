"""convstore completion: print the shell completion script, as gh and kubectl do.

The scripts are completions/' (``completion_scripts``), which a package install also
puts where the shells look; this prints the one for a shell, to source or to save.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from convstore.cli.command_classes import AsTypedCommand

Shell = Literal["bash", "zsh", "fish"]

EXAMPLES = """\
Examples:
  source <(convstore completion bash)      # bash: add this line to ~/.bashrc
  source <(convstore completion zsh)       # zsh: in ~/.zshrc, after compinit
  convstore completion zsh > ~/.zfunc/_convstore   # or a directory of $fpath
  convstore completion fish > ~/.config/fish/completions/convstore.fish
"""


def completion(
    shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.", show_default=False)],
) -> None:
    """Print the shell completion script for bash, zsh or fish.

    On Tab the script asks convstore for the candidates: commands, options, their
    values, and the conversation ids and users of the configured stores.
    """
    from convstore.cli.completion_scripts import app_name, by_shell

    _, script = by_shell(app_name())[shell]
    typer.echo(script, nl=False)


def register(app: typer.Typer) -> None:
    # Its one value is a choice: taken as typed, which spares importing pydantic.
    app.command(cls=AsTypedCommand, epilog=EXAMPLES)(completion)
