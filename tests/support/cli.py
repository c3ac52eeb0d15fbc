"""Running the `trdpath` command line from a test: in the test's own process (fast) or as a real process.

Each `python -m trdpath` process pays ~1.3-2 s of CPU importing pandas, ibis, DuckDB and Typer before it
does anything, more than most CLI tests' own work. ``run_trdpath`` runs the same entry point
(``trdpath.cli.handle``, which ``python -m trdpath`` calls and turns into the exit code) inside the
test's process, as a process would see it: its own stdout and stderr (not terminals, like pipes; what
C code writes to file descriptors 1 and 2 is kept too), stdin empty, the given environment variables and working folder, Python's default warning filters with the
warnings printed on stderr, log records of WARNING and above on stderr (Python's last-resort handler),
and an exception that escapes becoming a traceback on stderr and exit 1. It returns a
``subprocess.CompletedProcess`` like ``subprocess.run(..., capture_output=True, text=True)``.

``run_qual`` does the same for ``python -m trdpath.qualitative.cli`` (its ``main()``; ~4.5 s of CPU a process).
``run_trdpath_process`` starts the real process; tests about the process itself use it (the exit code
of the real entry point, output on real pipes, kills).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Python's default warning filters (python -W not given; `python -m trdpath` is not __main__ for trdpath's
# modules): what a user's terminal would show.
_PROCESS_WARNING_FILTERS = (
    ("ignore", DeprecationWarning), ("ignore", PendingDeprecationWarning), ("ignore", ImportWarning),
    ("ignore", ResourceWarning),
)


@contextmanager
def _environment(env: Mapping[str, str] | None):
    saved = {name: os.environ.get(name) for name in (env or {})}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _folder(cwd: Path | str | None):
    before = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(before)


@contextmanager
def _descriptors():
    """What is written to file descriptors 1 and 2 (C libraries, the JVM) while inside: [stdout, stderr]."""
    sys.stdout.flush()
    sys.stderr.flush()
    written = ["", ""]
    saved = [os.dup(1), os.dup(2)]
    files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    try:
        for fd, file in zip((1, 2), files):
            os.dup2(file.fileno(), fd)
        yield written
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        for i, file in enumerate(files):
            file.seek(0)
            written[i] = file.read().decode("utf-8", "replace")
            file.close()


def _in_process(command: list[str], entry_point, env: Mapping[str, str] | None, cwd: Path | str | None,
                check: bool, argv: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run ``entry_point()`` (returns the exit code) in this process as a process would see it (module
    docstring); ``argv``: sys.argv for an entry point that reads it."""
    out, err = io.StringIO(), io.StringIO()
    log_handler = logging.StreamHandler(err)
    log_handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    with _descriptors() as written, _environment(env), _folder(cwd), redirect_stdout(out), redirect_stderr(err), \
            warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        for action, category in _PROCESS_WARNING_FILTERS:
            warnings.simplefilter(action, category)
        saved_stdin, sys.stdin = sys.stdin, io.StringIO("")
        saved_argv, sys.argv = sys.argv, (argv or sys.argv)
        root.addHandler(log_handler)
        try:
            code = entry_point()
        except SystemExit as exc:  # what the interpreter makes of sys.exit(code)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                err.write(f"{exc.code}\n")
        except BaseException:  # noqa: BLE001 - what the interpreter does with an exception main() lets out
            err.write(traceback.format_exc())
            code = 1
        finally:
            root.removeHandler(log_handler)
            sys.stdin, sys.argv = saved_stdin, saved_argv
        for warning in caught:
            err.write(warnings.formatwarning(warning.message, warning.category, warning.filename, warning.lineno))
    done = subprocess.CompletedProcess(command, code, out.getvalue() + written[0], err.getvalue() + written[1])
    if check:
        done.check_returncode()
    return done


def run_trdpath(*args: str, env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
                check: bool = False) -> subprocess.CompletedProcess:
    """`trdpath ARGS` in this process; ``env`` adds to (or replaces in) the environment for the call;
    ``check`` raises CalledProcessError on a non-zero exit, as subprocess.run does."""
    def entry_point() -> int:
        from trdpath import cli

        cli._debug["on"] = bool(os.environ.get("TRDPATH_DEBUG"))  # read at start-up by a real process
        return cli.handle(list(map(str, args)))

    return _in_process(["trdpath", *map(str, args)], entry_point, env, cwd, check)


def run_qual(*args: str, env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
             check: bool = False) -> subprocess.CompletedProcess:
    """`python -m trdpath.qualitative.cli ARGS` in this process: its ``main()`` (which reads sys.argv and
    ends with sys.exit on an error), as run_trdpath runs `trdpath`."""
    def entry_point() -> int:
        from trdpath.qualitative.cli import main

        main()
        return 0  # main() returned: the interpreter exits 0

    import trdpath.qualitative.cli as module

    # sys.argv as `python -m` sets it: the module's file, then the arguments.
    return _in_process(["trdpath.qualitative.cli", *map(str, args)], entry_point, env, cwd, check,
                       argv=[module.__file__, *map(str, args)])


def run_trdpath_process(*args: str, env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
                        timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m trdpath ARGS` as a real process (pipes for stdout and stderr, stdin empty)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
                   **(env or {})}
    return subprocess.run([sys.executable, "-m", "trdpath", *map(str, args)], capture_output=True, text=True,
                          env=environment, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)
