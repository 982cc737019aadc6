"""Drive LCE's ``lce_benchmark_model`` binary, on this machine or on a board over SSH.

The Python interpreter of :func:`lq_ext.bench.run` times LCE's portable C++ kernels on
whatever machine runs Python; ARM latency needs LCE's own benchmark binary on the board
(``lce_benchmark_model_aarch64`` from LCE's GitHub releases, on a 64-bit OS).
:func:`run_tool` checks its arguments, runs the tool (:mod:`lq_ext.bench.runner`) and
parses what it prints (:mod:`lq_ext.bench.tool_output`) into a
:class:`~lq_ext.bench.results.ToolResult`:

- locally: ``run_tool("model.tflite", "./lce_benchmark_model")``;
- on a board: ``run_tool("model.tflite", "/home/pi/lce_benchmark_model_aarch64",
  ssh="pi@raspberrypi.local")`` copies the model with ``scp`` to a fresh ``mktemp``
  file on the board, runs the tool there over ``ssh`` and always removes the file.

The tool prints no median. :class:`ToolResult` is a :class:`~lq_ext.bench.BenchResult`
whose ``median_ms`` is the tool's percentile median when it prints one (newer
TFLite builds add ``p5= median= p95=``) and otherwise its average
(``median_is_mean=True``); ``mean_ms``, ``min_ms`` and ``max_ms`` are the tool's own.
All times are in milliseconds (the tool prints microseconds).

Flags set by :func:`run_tool` (TFLite's benchmark flags plus LCE's two kernel flags):
``--graph``, ``--num_threads``, ``--num_runs``, ``--warmup_runs``, ``--min_secs=0`` and
``--warmup_min_secs=0`` (so that exactly ``runs`` and ``warmup`` runs happen, as in
:func:`lq_ext.bench.run`, unless ``--max_secs``, 150 s by default, cuts them short;
``extra_args`` may set these three), ``--use_xnnpack``,
``--use_indirect_bgemm``, ``--use_reference_bconv`` and ``--enable_op_profiling``.

The result types, the parser and the process runner used to live here; their public
names are still importable from this module. Guide: docs/guides/benchmarks.md
"""

from __future__ import annotations

import math
import os
import platform
import shutil
from dataclasses import replace

from lq_ext._validate import check_int, is_number
from lq_ext.bench.interpreter import KERNEL_CHOICES, resolve_kernel
from lq_ext.bench.results import (
    TOOL_NAME,
    NodeStats,
    OpTypeStats,
    PhaseStats,
    ToolResult,
)
from lq_ext.bench.runner import (
    Deadline,
    SSHError,
    ToolError,
    ToolFailedError,
    ToolTimeoutError,
    check_ssh_target,
    find_local_tool,
    run_process,
    run_remote,
    tail,
)
from lq_ext.bench.tool_output import ToolOutputError, parse_output
from lq_ext.converters.op_report import inspect

__all__ = [
    "NodeStats",
    "OpTypeStats",
    "PhaseStats",
    "SSHError",
    "ToolError",
    "ToolFailedError",
    "ToolOutputError",
    "ToolResult",
    "ToolTimeoutError",
    "parse_output",
    "run_tool",
]

_KERNEL_FLAGS = {
    "optimized": ("--use_indirect_bgemm=false", "--use_reference_bconv=false"),
    "indirect_bgemm": ("--use_indirect_bgemm=true", "--use_reference_bconv=false"),
    "reference": ("--use_indirect_bgemm=false", "--use_reference_bconv=true"),
}
_MANAGED_FLAGS = {
    "graph": "model_path",
    "num_threads": "threads",
    "num_runs": "runs",
    "warmup_runs": "warmup",
    "use_xnnpack": "use_xnnpack",
    "use_indirect_bgemm": "kernel",
    "use_reference_bconv": "kernel",
    "enable_op_profiling": "op_profiling",
}


def _check_flag_list(name, value) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list or tuple of str, got {name}={value!r}.")
    return tuple(value)


def _flag_name(arg: str) -> str:
    """``"--max_secs=60"`` → ``"max_secs"``."""
    return arg.lstrip("-").split("=", 1)[0]


def _check_extra_args(extra_args) -> tuple[str, ...]:
    """``extra_args`` as a tuple; none of them may set a flag a parameter of run_tool sets."""
    extra_args = _check_flag_list("extra_args", extra_args)
    for arg in extra_args:
        flag = _flag_name(arg)
        if flag in _MANAGED_FLAGS:
            raise ValueError(
                f"extra_args sets --{flag} ({arg!r}); use the {_MANAGED_FLAGS[flag]}= parameter instead."
            )
    return extra_args


def _check_ssh_arguments(ssh, port, ssh_options):
    """``(ssh, port, ssh_options)`` checked: ``port`` and ``ssh_options`` need ``ssh``, which
    needs the OpenSSH client here."""
    ssh_options = _check_flag_list("ssh_options", ssh_options)
    if ssh is None:
        if port is not None or ssh_options:
            raise ValueError(
                f"port and ssh_options need ssh='user@host', got port={port!r}, ssh_options={ssh_options!r}."
            )
        return ssh, port, ssh_options
    ssh = check_ssh_target(ssh)
    if port is not None:
        port = check_int("port", port, low=1, high=65535)
    for program in ("ssh", "scp"):
        if shutil.which(program) is None:
            raise FileNotFoundError(
                f"ssh={ssh!r} needs the OpenSSH client, but {program!r} is not on PATH "
                f"(apt-get install openssh-client)."
            )
    return ssh, port, ssh_options



def run_tool(
    model_path,
    tool,
    *,
    ssh: str | None = None,
    port: int | None = None,
    ssh_options=(),
    threads: int = 1,
    runs: int = 50,
    warmup: int = 1,
    use_xnnpack: bool = False,
    kernel: str = "auto",
    op_profiling: bool = False,
    timeout: float = 600,
    extra_args=(),
) -> ToolResult:
    """Benchmark ``model_path`` with ``lce_benchmark_model``, here or over SSH.

    Every argument is checked, and the kernel resolved from the local flatbuffer,
    before any process starts.

    # Arguments
        model_path: a local ``.tflite`` file.
        tool: the ``lce_benchmark_model`` binary: a path (or a command on ``PATH``) on
            this machine, or with ``ssh`` a path on the board (``~/...`` is allowed).
        ssh: ``"user@host"`` (or ``"host"``) to run on that machine: the model is
            copied with ``scp`` to a ``mktemp`` file there, run, and the file is
            removed afterwards whatever happens. ``ssh``/``scp`` run with
            ``BatchMode=yes``: use a key (ssh-agent or ``-i`` in ``ssh_options``).
        port: SSH port (default: ssh's own, 22 or the ssh config's).
        ssh_options: extra arguments for both ``ssh`` and ``scp``, e.g.
            ``("-i", "~/.ssh/pi_key", "-o", "StrictHostKeyChecking=accept-new")``.
        threads: ``--num_threads`` (>= 1).
        runs: ``--num_runs`` (>= 1); ``--min_secs=0`` makes it exact.
        warmup: ``--warmup_runs`` (>= 0); ``--warmup_min_secs=0`` makes it exact.
        use_xnnpack: ``--use_xnnpack=true/false`` (always passed: TFLite may apply
            XNNPACK implicitly otherwise). With XNNPACK the op profile groups the float
            ops into one ``TfLiteXNNPackDelegate`` node.
        kernel: ``"auto"`` (indirect BGEMM if the model has grouped binary convs, else
            optimized, as :func:`lq_ext.bench.run`), ``"optimized"``,
            ``"indirect_bgemm"`` or ``"reference"`` (LCE's ``--use_indirect_bgemm`` /
            ``--use_reference_bconv``).
        op_profiling: ``--enable_op_profiling=true``; the per-op-type table lands in
            ``op_profile`` (profiling itself costs a little time per op).
        timeout: seconds for the whole call (> 0). Over SSH the tool runs under the
            board's ``timeout`` command when it has one, so it does not outlive the
            call; the clean-up gets 30 s more.
        extra_args: further ``--flag=value`` arguments for the tool (not the flags set
            by the parameters above).

    # Returns
        A :class:`ToolResult` (a :class:`~lq_ext.bench.BenchResult`).

    # Raises
        ValueError: invalid arguments, a model that is not a TFLite flatbuffer, or
            ``kernel="optimized"`` on a model with grouped binary convs.
        FileNotFoundError / PermissionError: no model file; no tool at ``tool`` (here
            or on the board), or a tool that is not executable; no ``ssh``/``scp``.
        SSHError: ``ssh`` or ``scp`` failed (the message quotes their stderr).
        ToolFailedError: the tool exited with a non-zero status (with its last lines).
        ToolTimeoutError: ``timeout`` was exceeded.
        ToolOutputError: the output could not be parsed.
    """
    # -- checks, before any process starts --
    if not isinstance(model_path, (str, os.PathLike)):
        raise TypeError(f"model_path must be a path (str or os.PathLike), got {type(model_path).__name__}.")
    model_path = os.fspath(model_path)
    if not isinstance(tool, (str, os.PathLike)) or not os.fspath(tool):
        raise ValueError(f"tool must be the path of the {TOOL_NAME} binary, got tool={tool!r}.")
    tool = os.fspath(tool)
    threads = check_int("threads", threads, low=1)
    runs = check_int("runs", runs, low=1)
    warmup = check_int("warmup", warmup, low=0)
    if not isinstance(kernel, str) or kernel not in KERNEL_CHOICES:
        raise ValueError(f"kernel={kernel!r} is not supported; expected one of {list(KERNEL_CHOICES)}.")
    for name, value in (("use_xnnpack", use_xnnpack), ("op_profiling", op_profiling)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {name}={value!r}.")
    if not is_number(timeout) or not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a finite number of seconds > 0, got timeout={timeout!r}.")
    extra_args = _check_extra_args(extra_args)
    ssh, port, ssh_options = _check_ssh_arguments(ssh, port, ssh_options)
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"No TFLite model at model_path={model_path!r}: the file does not exist.")
    # FileNotFoundError / ValueError naming the path for a missing or invalid model
    kernel = resolve_kernel(kernel, inspect(model_path), model_path)
    size_bytes = os.path.getsize(model_path)
    if ssh is None:
        tool = find_local_tool(tool)

    flags = [
        f"--num_threads={threads}",
        f"--num_runs={runs}",
        f"--warmup_runs={warmup}",
        f"--use_xnnpack={str(use_xnnpack).lower()}",
        *_KERNEL_FLAGS[kernel],
        f"--enable_op_profiling={str(op_profiling).lower()}",
    ]
    given = {_flag_name(arg) for arg in extra_args}
    flags += [f"--{name}=0" for name in ("min_secs", "warmup_min_secs") if name not in given]
    flags += list(extra_args)
    deadline = Deadline(float(timeout))

    if ssh is None:
        argv = [tool, f"--graph={model_path}", *flags]
        completed = run_process(argv, deadline.left(), f"{TOOL_NAME} ({tool})", timeout)
        machine, host = platform.machine(), None
        where = "this machine"
    else:
        argv, completed, machine = run_remote(model_path, tool, flags, ssh, port, ssh_options, deadline, timeout)
        host, where = ssh, ssh

    output = (completed.stderr or "") + "\n" + (completed.stdout or "")
    if completed.returncode != 0:
        raise ToolFailedError(
            f"{TOOL_NAME} ({tool} on {where}) exited with status {completed.returncode} for "
            f"{model_path!r}; last lines: {tail(output)}",
            completed.returncode,
            output,
        )
    parsed = parse_output(output)
    return replace(
        parsed,
        path=model_path,
        size_bytes=size_bytes,
        kernel=kernel,
        threads=parsed.threads if parsed.threads > 0 else threads,
        use_xnnpack=parsed.use_xnnpack if "Use xnnpack" in output else use_xnnpack,
        machine=machine,
        host=host,
        tool=tool,
        command=tuple(argv),
    )
