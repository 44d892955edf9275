"""Writing outputs safely: atomically, never over an input, inside the output folder."""

from __future__ import annotations

import contextlib
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


def refuse_special(target: Path) -> None:
    """Only a regular file (or a new path) is ever replaced: never a device, a FIFO or a
    folder (as root, ``--json /dev/null`` would otherwise replace the device node)."""
    import stat

    try:
        info = target.lstat()
    except FileNotFoundError:
        return
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode):
        return  # refused below as a link
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, pipe or socket"
        raise KzvoteError(
            "output_not_a_file",
            f"refusing to write an output over {kind}",
            file=str(target),
            hint="give the path of a regular file (it is created or replaced atomically); "
            "for standard output use -",
        )


def write_atomic(path: str | Path, data: str | bytes, *, inputs: list[str] = ()) -> Path:
    """Write to a temporary file beside ``path`` and rename it into place."""
    target = Path(path)
    refuse_overwriting_inputs(target, list(inputs))
    refuse_special(target)
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

    Checked: every component of the path, relative or absolute, except links directly
    under the root (system-level links such as macOS ``/tmp`` are not the user's data).
    An existing path that is not a folder is refused too.
    """
    folder = Path(path)
    to_check = [folder, *folder.parents]
    for probe in to_check:
        if str(probe) in ("", ".", "/") or probe.parent == probe:
            continue
        if folder.is_absolute() and probe.parent == Path(probe.anchor):
            continue
        if probe.is_symlink():
            raise KzvoteError(
                "output_is_symlink",
                "refusing to write outputs through a symbolic link",
                file=str(probe),
                hint="choose a real folder with --plots",
            )
    if folder.exists() and not folder.is_dir():
        raise KzvoteError(
            "output_not_a_file",
            "the plot folder path exists and is not a folder",
            file=str(folder),
            hint="choose another --plots folder",
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KzvoteError(
            "cannot_write", f"cannot create the folder: {exc.strerror}", file=str(folder)
        ) from None
    return folder


def save_figure_atomic(fig, folder: Path, name: str) -> str:
    """Save a matplotlib figure as ``folder/name.png`` through a unique temporary file.

    The temporary name is created with O_EXCL (``tempfile.mkstemp``), so a link planted
    under a guessable name is never followed and concurrent runs never collide.
    """
    target = folder / f"{safe_name(name)}.png"
    refuse_special(target)
    if target.is_symlink():
        raise KzvoteError(
            "output_is_symlink", "refusing to write through a symbolic link", file=str(target)
        )
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise KzvoteError(
            "cannot_write",
            f"cannot write the figure: {exc.strerror}",
            file=str(target),
            hint="check that the plot folder is writable and the disk is not full, or "
            "use --no-plots",
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return str(target)
