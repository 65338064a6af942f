"""Where maze may write: the house rule every writer follows.

maze replaces or writes into a folder only when it is safe to lose what is there:

* a folder maze made carries a marker file, :data:`MARKER`, naming its kind (``run``,
  ``sweep``, ...) and the entries maze wrote in it. Only such a folder, of the same kind,
  holding nothing but what its marker lists, is replaced; an empty folder is also fine.
* anything else (a folder without the marker, a folder holding a file maze did not write,
  a file where a folder goes, a symbolic link) is refused with one line naming it, before
  anything is simulated or moved. There is no option to override this: remove or rename
  the thing yourself.
* the current directory, any folder above it, ``/`` and the home directory are refused,
  marker or not.
* a single file (``maze export --out FILE``) is replaced only if the folder it is in is a
  maze output whose marker lists it among the files written one at a time (``exports``):
  never a folder's own tables (a run's ``summary.json``), never a file of the user's. A new
  file may be written in any folder that exists and can be written.
* names that come from scenario or experiment files become :func:`slug` s and stay inside
  ``runs/`` or ``sweeps/`` (:func:`default_folder`).

How another writer (a new command, an experiment script) uses it::

    from maze import outputs, storage

    dest = outputs.check_folder(out, "calibration", estimate_bytes=10_000_000)  # before work
    ...                                                                       # the work
    with storage.atomic_folder(dest, kind="calibration") as tmp:              # checks again
        ...write files into tmp...

``atomic_folder`` writes the marker itself and refuses what :func:`check_folder` refuses, so
a writer that forgets the early check still never deletes anything; the early check only
saves the user the wait. A folder that is written into rather than replaced (a sweep) calls
:func:`claim_folder` once, and :func:`storage.atomic_file` for each file it puts there.
Errors are :class:`OutputError`, a :class:`~maze.scenario.ScenarioError`: the CLI prints
its one line and exits with code 2.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from maze.resources import human_size
from maze.scenario import ScenarioError

#: The ownership marker: a small JSON file in every folder maze writes.
MARKER = ".maze-output.json"
#: Extra room asked of the disk beyond the estimated output (tables are written to a
#: temporary folder while the previous output still exists).
SPACE_MARGIN = 1.2
#: The longest slug made of a name (bytes of UTF-8 stay well below the 255 of a file name).
SLUG_LENGTH = 80


class OutputError(ScenarioError):
    """A destination maze refuses, or a write that failed; the message is one line."""


def slug(name: str, fallback: str = "out") -> str:
    """A file-name-safe form of ``name``: letters, digits, ``-``, ``_`` and inner dots only.

    Path separators, ``..``, control and format characters (right-to-left marks) become
    ``_``; leading dots and dashes go (no hidden files, no options); the result is at most
    :data:`SLUG_LENGTH` characters and never empty.
    """
    text = unicodedata.normalize("NFKC", str(name))
    out = "".join(c if (c.isalnum() and c.isprintable()) or c in "-_." else "_" for c in text)
    while ".." in out:
        out = out.replace("..", "_")
    out = out.lstrip(".-_").rstrip(".")[:SLUG_LENGTH].rstrip(".")
    return out or fallback


def default_folder(root: str, name: str) -> Path:
    """``root/<slug of name>`` (``runs/beijing-0``): a name from a file cannot leave ``root``."""
    folder = Path(root) / slug(name)
    assert folder.parent == Path(root)  # noqa: S101 - slug() has no separator; belt and braces
    return folder


def read_marker(folder: str | Path) -> dict | None:
    """The marker of a maze output folder, or None if ``folder`` is not one."""
    path = Path(folder) / MARKER
    try:
        if not path.is_file() or path.is_symlink():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("maze") != "output":
        return None
    if not isinstance(data.get("kind"), str) or not isinstance(data.get("files"), list):
        return None
    if not isinstance(data.setdefault("exports", []), list):
        return None
    return data


def write_marker(folder: str | Path, kind: str, files: Iterable[str],
                 exports: Iterable[str] = ()) -> None:
    """Mark ``folder`` as a maze output of ``kind`` whose entries maze wrote are ``files``;
    ``exports`` are single files written into it on request (``maze export --out``)."""
    names = sorted({f for f in files if f != MARKER})
    data: dict = {"maze": "output", "kind": kind, "files": names}
    extra = sorted(set(exports) - set(names) - {MARKER})
    if extra:
        data["exports"] = extra
    tmp = Path(folder) / f".{MARKER}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, Path(folder) / MARKER)


def register_files(folder: str | Path, names: Iterable[str], exports: bool = False) -> None:
    """Add entries to the marker of a maze folder (before writing them, so that a kill
    between the two leaves a listed name without its file, never a file without a name);
    with ``exports``, as single files written on request."""
    marker = read_marker(folder)
    if marker is None:
        return
    files, written = marker["files"], marker["exports"]
    new = set(names) - set(files) - set(written)
    if new:
        if exports:
            write_marker(folder, marker["kind"], files, [*written, *new])
        else:
            write_marker(folder, marker["kind"], [*files, *new], written)


def _is_leftover(name: str) -> bool:
    """Temporaries maze's own writers leave beside or inside a folder (see maze.storage)."""
    return name.startswith(".") and (".partial-" in name or ".old-" in name
                                     or name.startswith(f".{MARKER}.tmp-"))


def _protected(dest: Path) -> str | None:
    """Why ``dest`` may never be an output folder, or None."""
    real = dest.resolve()
    cwd = Path.cwd().resolve()
    if real == Path(real.anchor):
        return "is the root folder"
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no HOME and no password entry
        home = None
    if real == home:
        return "is the home folder"
    if real == cwd:
        return "is the current folder"
    if real in cwd.parents:
        return "holds the current folder"
    return None


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_space(dest: str | Path, estimate_bytes: int) -> None:
    """Refuse when the disk holding ``dest`` has less free room than the estimated output."""
    if estimate_bytes <= 0:
        return
    where = _nearest_existing(Path(dest).parent)
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    need = int(estimate_bytes * SPACE_MARGIN)
    if free < need:
        raise OutputError(f"not enough free disk space: about {human_size(need)} needed, "
                          f"{human_size(free)} free", source=str(dest))


def _check_parent(dest: Path) -> None:
    """The folders above ``dest`` exist as folders (or can be made) and can be written."""
    p = dest.absolute().parent
    while not p.exists() and not p.is_symlink() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise OutputError(f"{p} is a file, not a folder", source=str(dest))
    if not os.access(p, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write in {p} (permission denied)", source=str(dest))


def check_folder(dest: str | Path, kind: str, *, estimate_bytes: int = 0,
                 replace: bool = True) -> Path:
    """Refuse ``dest`` unless maze may write its ``kind`` of output there; return it.

    With ``replace`` (a run's folder, swapped whole) the existing folder must be a maze
    output of the same kind holding only entries its marker lists (or be empty). Without
    it (a sweep, written into and resumed) the marker and kind must match, but the folder
    may hold other entries: they are never touched. Also checks that the folder above can
    be written and that the disk has room for ``estimate_bytes``.
    """
    dest = Path(dest)
    if str(dest) == "":
        raise OutputError("an output folder needs a name", source="--out")
    why = _protected(dest)
    if why:
        raise OutputError(f"{why}; maze will not write its output over it", source=str(dest))
    if dest.is_symlink():
        raise OutputError("is a symbolic link; give the folder it points to, or another name",
                          source=str(dest))
    if dest.exists():
        if not dest.is_dir():
            raise OutputError("exists and is not a folder; maze will not replace it",
                              source=str(dest))
        _check_owned(dest, kind, replace)
    _check_parent(dest)
    check_space(dest, estimate_bytes)
    return dest


def _check_owned(dest: Path, kind: str, replace: bool) -> None:
    try:
        entries = [e.name for e in os.scandir(dest)]
    except OSError as exc:
        raise OutputError(f"cannot read the folder ({exc.strerror})", source=str(dest)) from None
    entries = [e for e in entries if not _is_leftover(e)]
    if not entries:
        return
    marker = read_marker(dest)
    if marker is None:
        raise OutputError(f"exists and was not written by maze (no {MARKER}); maze will not "
                          "replace it: choose another --out or move it away", source=str(dest))
    if marker["kind"] != kind:
        raise OutputError(f"is a maze {marker['kind']} folder, not a {kind} folder; choose "
                          "another --out", source=str(dest))
    if replace:
        listed = set(marker["files"]) | set(marker["exports"]) | {MARKER}
        foreign = sorted(e for e in entries if e not in listed)
        if foreign:
            raise OutputError(f"holds {foreign[0]!r}, which maze did not write; move it away "
                              "or choose another --out", source=str(dest))


def claim_folder(dest: str | Path, kind: str, files: Iterable[str] = ()) -> Path:
    """Create (or take up again) a folder maze writes into, such as a sweep's, and mark it.

    Refuses what :func:`check_folder` refuses (without ``replace``).
    """
    dest = check_folder(dest, kind, replace=False)
    dest.mkdir(parents=True, exist_ok=True)
    marker = read_marker(dest)
    listed = marker["files"] if marker else []
    if marker is None or not set(files) <= set(listed):
        write_marker(dest, kind, [*listed, *files], marker["exports"] if marker else ())
    return dest


def check_file(path: str | Path, *, estimate_bytes: int = 0) -> Path:
    """Refuse to write the single file ``path`` over anything maze did not write; return it.

    A new file is fine wherever the folder can be written; an existing one only if its
    folder is a maze output whose marker lists it.
    """
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise OutputError("exists and is not a plain file; maze will not replace it",
                          source=str(path))
    if path.exists():
        marker = read_marker(path.parent)
        if marker is not None and path.name in marker["files"]:
            raise OutputError(f"is part of the maze {marker['kind']} folder it is in; maze "
                              "will not replace it: choose another --out", source=str(path))
        if marker is None or path.name not in marker["exports"]:
            raise OutputError("exists and was not written by maze; maze will not replace it: "
                              "choose another --out or move it away", source=str(path))
    parent = path.absolute().parent
    if not parent.is_dir():
        raise OutputError(f"the folder {parent} does not exist", source=str(path))
    _check_parent(path)
    check_space(path, estimate_bytes)
    return path


def describe_os_error(exc: OSError, dest: str | Path) -> OutputError:
    """One line for a failure while writing (disk full, permission, busy), naming ``dest``."""
    reason = exc.strerror or exc.__class__.__name__
    if exc.errno == errno.ENOSPC:
        reason = "the disk is full"
    where = exc.filename if exc.filename else dest
    return OutputError(f"cannot write {where} ({reason}); the previous output, if any, is "
                       "unchanged", source=str(dest))
