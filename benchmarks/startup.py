"""How long `convstore --help` and a Tab take, against `python -c 'import typer'`.

    python benchmarks/startup.py [--runs N]

Every figure is a fresh process, run N times; the runs of all commands are interleaved
so that a change in the machine's load hits each of them alike. Prints best and median
wall time and each command's ratio to `import typer` (the target for `convstore --help`
is at most 1.5); a command's --help, a usage error and `convstore completion`; a page of
`convstore list --db`, and the libraries it cannot do without (its floor); what
Typer's Rich help renderer and its pydantic coercion would add, which help, usage
errors and Tabs leave out; Tabs that read ids from a sample store and from a database
that never answers; and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from installed import compile_convstore  # beside this file

TARGET = 1.5
PYTHON = sys.executable
# The console script next to this interpreter, as an operator runs it.
CONVSTORE = str(Path(PYTHON).with_name("convstore"))
BASELINE = "python -c 'import typer'"
SUBJECT = "convstore --help"

Command = tuple[list[str], dict[str, str]]


def bash_tab(line: str) -> Command:
    """A completion request as completions/convstore.bash sends it, cursor at the end."""
    index = str(len(line.split(" ")) - 1)
    return [CONVSTORE], {
        "_CONVSTORE_COMPLETE": "complete_bash",
        "COMP_WORDS": line,
        "COMP_CWORD": index,
    }


def zsh_tab(line: str) -> Command:
    return [CONVSTORE], {"_CONVSTORE_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": line}


def fish_tab(line: str) -> Command:
    return [CONVSTORE], {
        "_CONVSTORE_COMPLETE": "complete_fish",
        "_TYPER_COMPLETE_FISH_ACTION": "get-args",
        "_TYPER_COMPLETE_ARGS": line,
    }


def measurements(sample: Path, black_hole: int) -> dict[str, Command]:
    stores = f"--file-store {sample} --db {sample / 'openhands.db'}"
    silent = f"postgresql://convstore@127.0.0.1:{black_hole}/openhands"
    return {
        "python -c pass": ([PYTHON, "-c", "pass"], {}),
        BASELINE: ([PYTHON, "-c", "import typer"], {}),
        SUBJECT: ([CONVSTORE, "--help"], {}),
        "convstore list --help": ([CONVSTORE, "list", "--help"], {}),
        "convstore list --frobnicate (a usage error)": ([CONVSTORE, "list", "--frobnicate"], {}),
        "convstore completion bash (shells' startup files)": (
            [CONVSTORE, "completion", "bash"],
            {},
        ),
        "Tab: convstore <Tab> (bash)": bash_tab("convstore "),
        "Tab: convstore <Tab> (zsh, with descriptions)": zsh_tab("convstore "),
        "Tab: convstore list --format <Tab> (bash)": bash_tab("convstore list --format "),
        "Tab: convstore list --<Tab> (fish, with descriptions)": fish_tab("convstore list --"),
        "Tab: convstore show <Tab>, ids of a sample store (zsh)": zsh_tab(
            f"convstore show {stores} "
        ),
        "Tab: convstore show <Tab>, a database that never answers": bash_tab(
            f"convstore show --db {silent} "
        ),
        "convstore list --db, a page of a sample database": (
            [CONVSTORE, "list", "--db", str(sample / "openhands.db"), "--limit", "50"],
            {},
        ),
        "what a database page imports: typer, SQLAlchemy, pydantic, Rich": (
            [PYTHON, "-c", "import typer, sqlalchemy, pydantic.main, rich.console, rich.table"],
            {},
        ),
        "Typer's help renderer: import typer.rich_utils": (
            [PYTHON, "-c", "import typer, typer.rich_utils"],
            {},
        ),
        "Typer's coercion: import typer._adapters (pydantic)": (
            [PYTHON, "-c", "import typer, typer._adapters"],
            {},
        ),
    }


def measure(commands: dict[str, Command], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (command, environment) in commands.items():
            start = time.perf_counter()
            subprocess.run(
                command,
                env={**os.environ, **environment},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            times[name].append(time.perf_counter() - start)
    return times


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, load {load}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; typer {version('typer')}, rich {version('rich')}, "
        f"pydantic {version('pydantic')}"
    )


def report(times: dict[str, list[float]], runs: int) -> None:
    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'wall time, ' + str(runs) + ' runs each':58} {'best':>8} {'median':>8} {'ratio':>6}")
    for name in times:
        ratio = median[name] / median[BASELINE]
        print(f"{name:58} {best[name] * 1000:6.0f}ms {median[name] * 1000:6.0f}ms {ratio:5.2f}x")
    ratio = median[SUBJECT] / median[BASELINE]
    best_ratio = best[SUBJECT] / best[BASELINE]
    verdict = "within" if ratio <= TARGET else "over"
    print(
        f"\n{SUBJECT}: {ratio:.2f}x {BASELINE} (median; best {best_ratio:.2f}x),"
        f" {verdict} the {TARGET}x target"
    )
    print(f"machine: {machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command")
    runs = parser.parse_args().runs
    if not Path(CONVSTORE).exists():
        sys.exit(f"no {CONVSTORE}: install convstore into this interpreter's environment")
    from convstore.sample import write_sample

    compile_convstore()  # as an installation has it

    with tempfile.TemporaryDirectory() as scratch, socket.socket() as listener:
        sample = write_sample(Path(scratch) / "sample").file_store
        # Accepts connections and never answers, like a firewalled database server.
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        commands = measurements(sample, listener.getsockname()[1])
        report(measure(commands, runs), runs)


if __name__ == "__main__":
    main()
