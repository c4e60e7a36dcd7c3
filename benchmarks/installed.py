"""convstore as an operator's installation has it: every module compiled to bytecode.

pip compiles a wheel's modules when it installs them. An editable install (a checkout's)
leaves that to the first import, which writes them, unless PYTHONDONTWRITEBYTECODE is
set (as on our own machines): then each process compiled every module it imported, and
start-up figures measured that compiling. Compiling once, before a process is timed,
measures what operators run (the files go to __pycache__, which git ignores).
"""

from __future__ import annotations

import compileall
import functools
from pathlib import Path


@functools.cache
def compile_convstore() -> None:
    import convstore

    compileall.compile_dir(Path(convstore.__file__).parent, quiet=1)
