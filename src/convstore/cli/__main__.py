"""The only place that turns library errors into exit statuses and one line on stderr.

Typer itself reports usage errors (exit 2) and turns Ctrl-C into exit 130.
"""

from __future__ import annotations

import sys
import traceback

from convstore.cli import app as application
from convstore.errors import ConvstoreError

INTERRUPTED = 130


def main() -> None:
    try:
        application.app()
    except ConvstoreError as error:
        _fail(str(error), error.exit_status, error)
    except KeyboardInterrupt as error:
        _fail("interrupted", INTERRUPTED, error)
    except Exception as error:
        _fail(f"internal error: {type(error).__name__}: {error}", 1, error, hint=True)


def _fail(message: str, status: int, error: BaseException, hint: bool = False) -> None:
    from convstore.config import scrubbed

    if application.state.debug:
        sys.stderr.write(scrubbed("".join(traceback.format_exception(error))))
    elif hint:
        message += " (run with --debug for a traceback)"
    # Scrubbed here too, whatever the message: no password reaches stderr.
    print(f"convstore: {scrubbed(message)}", file=sys.stderr)
    sys.exit(status)


if __name__ == "__main__":
    main()
