"""Writing outputs safely: atomically, never over an input, inside the output folder."""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path

from kzvote.model import KzvoteError


def safe_name(text: str, limit: int = 60) -> str:
    """A file-name fragment from data (a region name): no separators, dots or controls."""
    text = unicodedata.normalize("NFKC", str(text))
    text = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]+", "_", text)
    text = re.sub(r"\s+", "_", text).strip("._-")
    text = re.sub(r"\.{2,}", "_", text)
    return (text or "unnamed")[:limit]


def refuse_overwriting_inputs(output: Path, inputs: list[str]) -> None:
    for item in inputs:
        try:
            same = output.resolve() == Path(item).resolve()
        except OSError:
            continue
        if same:
            raise KzvoteError(
                "output_is_input",
                "refusing to write an output over an input file",
                file=str(output),
                hint="choose another output path",
            )


def write_atomic(path: str | Path, data: str | bytes, *, inputs: list[str] = ()) -> Path:
    """Write to a temporary file beside ``path`` and rename it into place."""
    target = Path(path)
    refuse_overwriting_inputs(target, list(inputs))
    if target.is_symlink():
        raise KzvoteError(
            "output_is_symlink",
            "refusing to write through a symbolic link",
            file=str(target),
            hint="remove the link or choose another path",
        )
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        raise KzvoteError(
            "cannot_write",
            f"cannot write the output: {exc.strerror}",
            file=str(target),
            hint="check that the folder exists and is writable",
        ) from None
    return target


def make_output_dir(path: str | Path) -> Path:
    """Create an output folder; refuse one reached through a symbolic link.

    Checked: the folder itself and its parent, and for a relative path every component
    (inside the working directory). System-level links above an absolute path (macOS
    ``/tmp``) are not the user's data and are allowed.
    """
    folder = Path(path)
    to_check = [folder, folder.parent]
    if not folder.is_absolute():
        to_check += list(folder.parents)
    for probe in to_check:
        if str(probe) not in ("", ".") and probe.is_symlink():
            raise KzvoteError(
                "output_is_symlink",
                "refusing to write outputs through a symbolic link",
                file=str(probe),
                hint="choose a real folder with --plots",
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KzvoteError(
            "cannot_write", f"cannot create the folder: {exc.strerror}", file=str(folder)
        ) from None
    return folder
