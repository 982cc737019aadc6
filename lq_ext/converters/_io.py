"""File writing for :func:`lq_ext.converters.convert`: atomic, and never over an existing
file unless asked."""

from __future__ import annotations

import os
import secrets

__all__ = ["write_atomically"]


def write_atomically(data: bytes, path: str, overwrite: bool) -> None:
    """Write ``data`` to a temporary file next to ``path``, then move it into place.

    Without ``overwrite`` the move is a hard link, which fails if ``path`` appeared while
    converting (``FileExistsError``); nothing is left behind either way.
    """
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # atomic and fails if path appeared meanwhile
        except FileExistsError:
            raise FileExistsError(
                f"path={path!r} was created while converting; pass overwrite=True to replace it."
            ) from None
        except OSError:  # file system without hard links
            if os.path.exists(path):
                raise FileExistsError(
                    f"path={path!r} was created while converting; pass overwrite=True to replace it."
                ) from None
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
