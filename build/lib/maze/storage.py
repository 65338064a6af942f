"""Writing results whole or not at all.

A run's folder is assembled under a temporary name beside its destination and
renamed into place only when every file is written, so an interrupted run never
leaves a folder that looks complete. A previous folder of the same name is kept
until the new one is in place. A temporary folder is named after the machine and
process writing it, so that the next writer of the same destination can remove
what a killed one left behind (and nothing a live one is still writing).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from maze import outputs

#: Written last in every finished folder; its presence is what "complete" means.
MARKER = "summary.json"


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Parquet with no timestamps or writer-specific metadata, so equal tables give equal bytes.

    Only the text and category columns are dictionary-encoded: numbers (times, waits, fees)
    tried as dictionaries first fell back to plain values after the dictionary filled, which
    took a third of the writing and gave larger files. Minimum and maximum statistics are
    kept for the other columns (numbers, for readers that filter on them): on categories
    they cost a quarter of the writing. The values read back are the same. The columns are
    converted in this thread: pyarrow's pool of threads for a table of many rows cost more
    CPU than it saved (the columns are mostly handed over without a copy).
    """
    table = pa.Table.from_pandas(df, preserve_index=False, nthreads=1)
    texts = _texts(table.schema)
    pq.write_table(table, path, compression="zstd", use_dictionary=texts,
                   write_statistics=[c for c in table.schema.names if c not in texts])


def _texts(schema: pa.Schema) -> list[str]:
    """The columns of a table that hold texts or categories (Arrow dictionaries)."""
    return [f.name for f in schema
            if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type) or _is_string_view(f.type)]


def _is_string_view(t: pa.DataType) -> bool:
    """Arrow's string views (pyarrow 16 and later; earlier versions have none)."""
    test = getattr(pa.types, "is_string_view", None)
    return test is not None and test(t)


def write_json(data: Any, path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n",
                    encoding="utf-8")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _renameat2() -> Any:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    return fn


_RENAMEAT2 = _renameat2()
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); False where that is not supported.

    Replacing a folder otherwise takes two renames (old away, new in), and a run killed
    between them leaves nothing under the final name.
    """
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _host() -> str:
    """This machine's name, as it may appear in a file name."""
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours to signal
        return True
    return True


def remove_leftovers(dest: str | Path) -> list[Path]:
    """Remove what writers of ``dest`` killed on this machine left beside it.

    Temporary (``.NAME.partial-HOST-PID-*``) and replaced (``.NAME.old-HOST-PID``)
    folders whose process is gone. Folders from other machines (a shared disk under a
    Dask cluster) and from live processes are left alone. Returns what was removed.
    """
    dest = Path(dest)
    host, removed = _host(), []
    if not dest.parent.is_dir():
        return removed
    for kind in ("partial", "old"):
        prefix = f".{dest.name}.{kind}-{host}-"
        for path in dest.parent.glob(f".{_glob_escape(dest.name)}.{kind}-*"):
            pid = path.name[len(prefix):].split("-")[0] if path.name.startswith(prefix) else ""
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    return "".join(f"[{c}]" if c in "*?[]" else c for c in name)


@contextmanager
def atomic_folder(dest: str | Path, kind: str = "run") -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``dest`` in one rename.

    ``dest`` must be absent, empty or a maze output of the same ``kind`` holding only what
    its marker lists (:func:`maze.outputs.check_folder`); this is checked before the
    temporary folder is made and again just before the swap. The new folder gets its
    marker, listing every entry written into it. A failure to write raises
    :class:`maze.outputs.OutputError` and leaves the previous folder as it was.
    """
    dest = Path(dest)
    outputs.check_folder(dest, kind)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(dest)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-{_host()}-{os.getpid()}-",
                                    dir=dest.parent))
    except OSError as exc:
        raise outputs.describe_os_error(exc, dest) from None
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        outputs.write_marker(tmp, kind, (e.name for e in os.scandir(tmp)))
        for f in tmp.iterdir():
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        _fsync_dir(tmp)
        outputs.check_folder(dest, kind)  # nothing foreign arrived while we simulated
        old = None
        if dest.exists() and _exchange(tmp, dest):
            old = tmp  # the new folder is in place; tmp now holds the previous one
        else:
            if dest.exists():
                old = dest.parent / f".{dest.name}.old-{_host()}-{os.getpid()}"
                if old.exists():
                    shutil.rmtree(old)
                dest.rename(old)
            tmp.rename(dest)
        _fsync_dir(dest.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise outputs.describe_os_error(exc, dest) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    """The process's umask (read by setting it, so set it straight back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def is_complete(folder: str | Path) -> bool:
    return (Path(folder) / MARKER).is_file()


def atomic_file(path: str | Path, write: Callable[[Path], None], export: bool = False) -> None:
    """Write one file through a temporary name in the same folder, then rename it.

    Callers check the destination first (:func:`maze.outputs.check_file` for a file
    given by the user, :func:`maze.outputs.claim_folder` for the folder it goes in); in a
    maze output folder the name is added to its marker first (with ``export``, as a single
    file written on request, which a later export may replace). The file's mode follows the
    umask, like every other file maze writes. A failure raises
    :class:`maze.outputs.OutputError` and leaves the previous file as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(path)
        outputs.register_files(path.parent, [path.name], exports=export)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.partial-{_host()}-{os.getpid()}-",
                                   dir=path.parent)
    except OSError as exc:
        raise outputs.describe_os_error(exc, path) from None
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise outputs.describe_os_error(exc, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
