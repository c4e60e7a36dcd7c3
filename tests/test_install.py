"""The wheel as pip, pipx and uv install it: a working command, its man pages, completions.

Building the wheel needs hatchling, which pip fetches into an isolated build environment
(PyPI, or pip's cache). The wheel is then installed offline (``--no-deps --no-index``)
into a new virtual environment that borrows this environment's packages for convstore's
dependencies through a .pth file, so the test checks what the wheel carries, quickly.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from convstore import __version__

REPOSITORY = Path(__file__).resolve().parent.parent
SHARED = {
    "share/bash-completion/completions/convstore": "completions/convstore.bash",
    "share/zsh/site-functions/_convstore": "completions/_convstore",
    "share/fish/vendor_completions.d/convstore.fish": "completions/convstore.fish",
}


def run(*command, **settings):
    return subprocess.run(
        [str(part) for part in command],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        **settings,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The prefix of a fresh virtual environment with the built wheel installed."""
    work = tmp_path_factory.mktemp("install")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", REPOSITORY)
    (wheel,) = (work / "dist").glob("convstore-*.whl")
    prefix = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", prefix)
    python = prefix / "bin" / "python"
    where = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    site = Path(where.stdout.strip())
    # Dependencies from this environment, after the venv's own site-packages; a .pth in
    # a directory added this way is not run, so an editable convstore here stays out.
    borrowed = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site / "borrowed-dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", python]
    run(*pip, "install", "-q", "--no-deps", "--no-index", wheel)
    return prefix


@pytest.mark.slow
def test_the_installed_command_runs_from_the_wheel(installed):
    result = run(installed / "bin" / "convstore", "--version", cwd=installed)
    assert result.stdout.strip() == f"convstore {__version__}"
    location = run(
        installed / "bin" / "python", "-c", "import convstore; print(convstore.__file__)"
    )
    assert Path(location.stdout.strip()).is_relative_to(installed)


@pytest.mark.slow
def test_the_man_pages_and_completions_are_installed_under_the_prefix(installed):
    pages = sorted(path.name for path in (REPOSITORY / "man").glob("*.1"))
    installed_pages = installed / "share" / "man" / "man1"
    assert sorted(path.name for path in installed_pages.glob("*.1")) == pages
    for name in pages:
        assert (installed_pages / name).read_text() == (REPOSITORY / "man" / name).read_text()
    for target, source in SHARED.items():
        assert (installed / target).read_text() == (REPOSITORY / source).read_text()


@pytest.mark.slow
def test_man_finds_the_page_next_to_the_command_on_path(installed):
    """What makes `man convstore` work after pip install: man looks beside each PATH entry."""
    if shutil.which("man") is None:
        pytest.skip("man (man-db) is not installed; the pages' place is checked above")
    environment = {key: value for key, value in os.environ.items() if key != "MANPATH"}
    environment["PATH"] = f"{installed / 'bin'}{os.pathsep}{environment.get('PATH', '')}"
    found = run("man", "-w", "convstore", env=environment).stdout.strip()
    assert Path(found) == installed / "share" / "man" / "man1" / "convstore.1"
