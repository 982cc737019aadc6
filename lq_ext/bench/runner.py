"""Run a program here or on a board over SSH, within one deadline, with errors that say why.

The process side of :func:`lq_ext.bench.run_tool`: ``subprocess`` with a deadline
(:class:`Deadline`, :func:`run_process`), the lookup of a local binary
(:func:`find_local_tool`), and the SSH round trip of :func:`run_remote` (``mktemp`` on the
board, ``scp`` the model, run the tool under the board's ``timeout``, always ``rm`` the
copy). ``ssh`` and ``scp`` run with ``BatchMode=yes``. Guide: docs/guides/raspberry_pi.md
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
import time

from lq_ext.bench.results import TOOL_NAME
from lq_ext.bench.tool_output import excerpt

__all__ = [
    "Deadline",
    "SSHError",
    "ToolError",
    "ToolFailedError",
    "ToolTimeoutError",
    "check_ssh_target",
    "find_local_tool",
    "run_process",
    "run_remote",
    "tail",
]


class ToolError(OSError):
    """Running the tool failed (an ``OSError``, so ``lq-ext`` reports it in one line)."""


class SSHError(ToolError):
    """``ssh`` or ``scp`` to the board failed (the message carries their stderr)."""


class ToolFailedError(ToolError):
    """The tool exited with a non-zero status; ``returncode`` and ``output`` are kept."""

    def __init__(self, message: str, returncode: int | None = None, output: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.output = output


class ToolTimeoutError(ToolError, TimeoutError):
    """The tool (or ssh/scp) did not finish within ``timeout`` seconds."""


_CLEANUP_TIMEOUT = 30.0
_MISSING_TOOL, _NOT_EXECUTABLE = 97, 98  # exit codes of the remote check script
_REMOTE_TIMEOUT_CODES = (124, 137)  # coreutils timeout: timed out / killed after -k


def tail(text: str, n: int = 5) -> str:
    """The last ``n`` non-empty lines of ``text`` on one line, for error messages."""
    return excerpt((text or "").splitlines(), first=False, n=n)


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def check_ssh_target(ssh) -> str:
    """``ssh`` if it is a plain ``user@host`` / ``host`` (nothing a shell or ssh would interpret)."""
    if not isinstance(ssh, str) or not ssh or ssh.startswith("-") or re.search(r"[\s'\"`$;|&<>]", ssh):
        raise ValueError(
            f"ssh must be 'user@host' or 'host' (no spaces, quotes or shell characters, not "
            f"starting with '-'), got ssh={ssh!r}."
        )
    return ssh


def find_local_tool(tool: str) -> str:
    """The absolute path of ``tool``: a file path (must be executable) or a command on ``PATH``."""
    if os.sep in tool or (os.altsep and os.altsep in tool):
        path = os.path.abspath(tool)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No {TOOL_NAME} at tool={tool!r}: the file does not exist. Download "
                f"lce_benchmark_model_<arch> from https://github.com/larq/compute-engine/releases "
                f"or build it (CMake, COMPILE_BENCHMARK=ON)."
            )
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise PermissionError(
                f"tool={tool!r} is not an executable file; run `chmod +x {tool}` after downloading it."
            )
        return path
    found = shutil.which(tool)
    if found is None:
        raise FileNotFoundError(
            f"tool={tool!r} is not a file path and no executable of that name is on PATH; "
            f"pass the path of the {TOOL_NAME} binary."
        )
    return found


def _remote_word(tool: str) -> str:
    """Quote ``tool`` for the remote shell, keeping a leading ``~/`` meaningful."""
    if tool.startswith("~/"):
        return '"$HOME"/' + shlex.quote(tool[2:])
    return shlex.quote(tool)


class Deadline:
    """``seconds`` from now; :meth:`left` is what remains (at least 50 ms, so a call still starts)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(self.end - time.monotonic(), 0.05)


def _timeout_error(what: str, timeout: float, partial: str = "") -> ToolTimeoutError:
    last = f" Last output: {tail(partial)}" if partial.strip() else ""
    return ToolTimeoutError(f"{what} did not finish within timeout={timeout!r} seconds.{last}")


def run_process(argv, timeout, what, total_timeout):
    """Run ``argv`` (no stdin, output captured as text) for at most ``timeout`` seconds.

    On timeout: :class:`ToolTimeoutError` naming ``what`` and the caller's ``total_timeout``,
    with the last lines the process printed.
    """
    try:
        return subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, text=True, errors="replace"
        )
    except subprocess.TimeoutExpired as error:
        partial = _text(error.stderr) + "\n" + _text(error.stdout)
        raise _timeout_error(what, total_timeout, partial) from None


def _ssh_base(ssh, port, ssh_options, timeout, *, scp=False) -> list[str]:
    argv = ["scp", "-q"] if scp else ["ssh"]
    argv += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, min(30, int(timeout)))}"]
    if port is not None:
        argv += ["-P" if scp else "-p", str(port)]
    argv += list(ssh_options)
    return argv


def run_remote(model_path, tool, flags, ssh, port, ssh_options, deadline, timeout):
    """mktemp on the board, scp the model, run the tool, always rm the file.

    Returns ``(argv, completed, machine)``: the ``ssh`` command that ran the tool, its
    ``CompletedProcess`` and the board's ``uname -m``.
    """
    target = f"{ssh}:{port}" if port is not None else ssh

    prepare = (
        f"t={_remote_word(tool)}; "
        f'case "$t" in '
        f'*/*) [ -e "$t" ] || exit {_MISSING_TOOL}; [ -f "$t" ] && [ -x "$t" ] || exit {_NOT_EXECUTABLE};; '
        f'*) command -v "$t" >/dev/null 2>&1 || exit {_MISSING_TOOL};; esac; '
        'uname -m && mktemp "${TMPDIR:-/tmp}/lq_ext_bench.XXXXXX"'
    )
    argv = [*_ssh_base(ssh, port, ssh_options, deadline.left()), ssh, "sh -c " + shlex.quote(prepare)]
    completed = run_process(argv, deadline.left(), f"ssh to {target}", timeout)
    if completed.returncode == _MISSING_TOOL:
        raise FileNotFoundError(f"No {TOOL_NAME} at tool={tool!r} on {target}: no such file or command there.")
    if completed.returncode == _NOT_EXECUTABLE:
        raise PermissionError(
            f"tool={tool!r} on {target} is not an executable file; run `chmod +x {tool}` there."
        )
    if completed.returncode != 0:
        raise _ssh_failed("Preparing the run (ssh, mktemp)", target, completed)
    lines = [line.strip() for line in completed.stdout.splitlines() if line.strip()]
    if len(lines) < 2 or not lines[-1].startswith("/"):
        raise SSHError(
            f"mktemp on {target} printed no temporary path; output: {tail(completed.stdout)}"
        )
    machine, remote_path = lines[-2], lines[-1]

    try:
        argv, completed = _copy_and_run(model_path, tool, flags, ssh, port, ssh_options, deadline, timeout, remote_path)
    except BaseException as error:  # KeyboardInterrupt too: never leave the copy behind
        problem = _remove_remote(remote_path, ssh, port, ssh_options)
        if problem is not None and hasattr(error, "add_note"):
            error.add_note(f"Could not remove the copied model {remote_path} on {target}: {problem}")
        raise
    problem = _remove_remote(remote_path, ssh, port, ssh_options)
    if problem is not None:
        raise SSHError(f"Could not remove the copied model {remote_path} on {target}: {problem}")
    return argv, completed, machine


def _ssh_failed(step: str, target: str, completed) -> SSHError:
    detail = completed.stderr if completed.stderr.strip() else completed.stdout
    return SSHError(f"{step} on {target} failed (ssh exit status {completed.returncode}): {tail(detail)}")


def _copy_and_run(model_path, tool, flags, ssh, port, ssh_options, deadline, timeout, remote_path):
    """scp the model to ``remote_path`` and run the tool on it under the board's ``timeout``."""
    target = f"{ssh}:{port}" if port is not None else ssh
    copy = _ssh_base(ssh, port, ssh_options, deadline.left(), scp=True)
    copy += [os.path.abspath(model_path), f"{ssh}:{remote_path}"]
    copied = run_process(copy, deadline.left(), f"scp of {model_path!r} to {target}", timeout)
    if copied.returncode != 0:
        raise _ssh_failed(f"Copying {model_path!r} to {remote_path} (scp)", target, copied)

    seconds = max(1, math.ceil(deadline.left()))
    word = _remote_word(tool)
    command = " ".join([word, shlex.quote(f"--graph={remote_path}"), *(shlex.quote(f) for f in flags)])
    script = (
        f"if command -v timeout >/dev/null 2>&1; then exec timeout -k 5 {seconds} {command}; "
        f"else exec {command}; fi"
    )
    argv = [*_ssh_base(ssh, port, ssh_options, deadline.left()), ssh, "sh -c " + shlex.quote(script)]
    what = f"{TOOL_NAME} ({tool} on {target})"
    completed = run_process(argv, seconds + 15, what, timeout)  # the local limit is a backstop
    if completed.returncode in _REMOTE_TIMEOUT_CODES and deadline.end - time.monotonic() < 1:
        raise _timeout_error(what, timeout, completed.stderr + completed.stdout)
    if completed.returncode == 255:
        raise _ssh_failed(f"Running {TOOL_NAME} (ssh)", target, completed)
    return argv, completed


def _remove_remote(remote_path, ssh, port, ssh_options) -> str | None:
    """``rm -f`` the copy on the board; None on success, else what went wrong."""
    argv = _ssh_base(ssh, port, ssh_options, _CLEANUP_TIMEOUT) + [ssh, "rm -f -- " + shlex.quote(remote_path)]
    try:
        removed = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
            timeout=_CLEANUP_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return f"no answer within {_CLEANUP_TIMEOUT:.0f} s"
    return None if removed.returncode == 0 else tail(removed.stderr)
