"""Model folders written all at once and read back with their checksums checked.

A saved model is a folder holding ``manifest.json`` (JSON) and one or more
numeric files (``arrays.npz``, ``model.safetensors``). :func:`write_model`
writes every file into a hidden sibling folder ``.NAME.XXXX.tmp``, fsyncs
it, optionally loads it back, and only then puts it under the final name:

* on Linux (``renameat2(RENAME_EXCHANGE)``, ext4, xfs, btrfs, tmpfs) the new
  folder and the old one trade places in one atomic step, and the old one
  (now under the temporary name) is removed. A crash at any moment leaves
  the complete old model or the complete new model under the final name,
  never a mix and never nothing;
* elsewhere the old folder is first renamed to ``.NAME.XXXX.old``, the new
  one renamed into place, then the old one removed. A crash between those
  two renames (microseconds) leaves no folder under the final name and the
  complete old model under ``.NAME.XXXX.old``; :func:`read_model` names it
  in its error so the user can rename it back.

Either way the final name never holds a half-written model, and leftover
``.tmp`` folders older than an hour are cleaned by the next save to the same
target.

The manifest carries the SHA-256 of every data file and
``manifest_sha256``: the SHA-256 of the manifest itself (canonical JSON
without that field), so editing any field, a category or a bound included,
makes the folder fail to load. The checksum guards against damage and
casual edits, not against a forger who recomputes it: the loaders also check
every field they read.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from synthera.errors import ModelFileError, UserInputError
from synthera.io import file_sha256 as _file_sha256

__all__ = ["MANIFEST_HASH_FIELD", "check_format", "manifest_digest", "read_model", "write_model"]

MANIFEST_HASH_FIELD = "manifest_sha256"
_STALE_SECONDS = 3600
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
# files any Synthera model folder may hold; an existing folder holding anything else is not replaced
_MODEL_FILES = frozenset({"manifest.json", "arrays.npz", "model.safetensors"})

T = TypeVar("T")
Writer = Callable[[Path], None]


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of the manifest as canonical JSON (sorted keys, no spaces), without its own hash field."""
    body = {k: v for k, v in manifest.items() if k != MANIFEST_HASH_FIELD}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _step(name: str) -> None:
    """Called between the steps of :func:`write_model`; tests replace it to stop a save half-way."""


def write_model(
    folder: str | os.PathLike,
    manifest: dict,
    files: Mapping[str, Writer | bytes],
    *,
    checksums: Mapping[str, str],
    manifest_name: str = "manifest.json",
    default: Callable[[Any], Any] | None = None,
    verify: Callable[[Path], None] | None = None,
) -> Path:
    """Write a model folder atomically and return its path.

    Parameters
    ----------
    folder
        The final folder. If it exists it must be a model folder (or empty);
        it is replaced as a whole.
    manifest
        JSON-able fields; ``checksums`` fields and ``manifest_sha256`` are added.
    files
        File name -> bytes, or a callable that writes the file at the path it is given.
    checksums
        File name -> manifest field that records its SHA-256 (e.g. ``{"arrays.npz": "arrays_sha256"}``).
    default
        ``json.dumps`` default for values JSON does not know (numpy scalars).
    verify
        Called with the temporary folder once it is complete; if it raises, nothing
        is swapped in, the temporary folder is removed and the error is re-raised
        as a one-line :class:`ModelFileError`.
    """
    from synthera.io import default_file_mode

    folder = given = Path(folder)
    if folder.is_symlink():  # replace the folder it points to, not the link
        folder = folder.resolve()
    _check_target(folder, set(files) | {manifest_name})
    _clean_stale(folder)
    mode = default_file_mode()
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    except PermissionError:
        raise UserInputError(f"cannot write to {folder}: permission denied; pick another output folder") from None
    try:
        for name, content in files.items():
            _step(f"file:{name}")
            path = tmp / name
            if isinstance(content, (bytes, bytearray)):
                path.write_bytes(content)
            else:
                content(path)
            _finish_file(path, mode)
        manifest = dict(manifest)
        for name, field in checksums.items():
            manifest[field] = _file_sha256(tmp / name)
        manifest.pop(MANIFEST_HASH_FIELD, None)
        body = json.loads(json.dumps(manifest, default=default))  # the form a reader will parse
        manifest[MANIFEST_HASH_FIELD] = manifest_digest(body)
        _step("manifest")
        (tmp / manifest_name).write_text(json.dumps(manifest, indent=1, default=default) + "\n", encoding="utf-8")
        _finish_file(tmp / manifest_name, mode)
        os.chmod(tmp, mode | (mode & 0o444) >> 2)  # a folder needs x wherever its files have r
        _fsync_dir(tmp)
        if verify is not None:
            _step("verify")
            _verify(verify, tmp, folder)
        _step("swap")
        _swap_in(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return given


def _check_target(folder: Path, names: set[str]) -> None:
    if folder.exists() and not folder.is_dir():
        raise UserInputError(f"{folder} is a file; pass a folder to save the model in")
    if folder.is_dir():
        try:
            entries = {p.name for p in folder.iterdir()}
        except PermissionError:
            raise UserInputError(f"cannot write to {folder}: permission denied; pick another output folder") from None
        foreign = entries - names - _MODEL_FILES
        if foreign:
            raise UserInputError(
                f"{folder} exists and holds {len(foreign)} file(s) that are not part of a Synthera model; "
                "saving replaces the whole folder, so pick a new or empty folder"
            )
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except (PermissionError, FileExistsError, NotADirectoryError):
        raise UserInputError(
            f"cannot write to {folder}: cannot create its parent folder; pick another output folder"
        ) from None


def _clean_stale(folder: Path) -> None:
    """Remove ``.NAME.*.tmp`` folders older than an hour, and ``.NAME.*.old`` ones once NAME exists again."""
    now = time.time()
    for pattern, needs_target in ((f".{folder.name}.*.tmp", False), (f".{folder.name}.*.old", True)):
        for path in folder.parent.glob(pattern):
            try:
                old = now - path.lstat().st_mtime > _STALE_SECONDS
            except OSError:
                continue
            if path.is_dir() and not path.is_symlink() and old and (folder.is_dir() or not needs_target):
                shutil.rmtree(path, ignore_errors=True)


def _finish_file(path: Path, mode: int) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(path, mode)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # platforms that cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _verify(verify: Callable[[Path], None], tmp: Path, folder: Path) -> None:
    try:
        verify(tmp)
    except Exception as exc:  # noqa: BLE001 - any failure means the folder would not load
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = reason.replace(str(tmp), str(folder))
        raise ModelFileError(
            f"cannot save the model to {folder}: it would not load again ({reason}); {folder} was left as it was"
        ) from None


def _swap_in(tmp: Path, folder: Path) -> None:
    """Put ``tmp`` under the name ``folder`` (see the module docstring for the guarantee)."""
    if not folder.exists():
        try:
            os.rename(tmp, folder)
            _fsync_dir(folder.parent)
            return
        except OSError as exc:  # another save got there first: replace its folder instead
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    if _exchange(tmp, folder):
        _step("exchanged")
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        backup = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
        os.rmdir(backup)
        os.rename(folder, backup)
        _step("backed-up")
        os.rename(tmp, folder)
        shutil.rmtree(backup, ignore_errors=True)
    _fsync_dir(folder.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux's renameat2; False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(b))


def check_format(folder: Path, manifest: Any, *, expected: str, version: int, what: str, redo: str,
                 hint: str = "", manifest_name: str = "manifest.json") -> None:
    """Refuse a manifest of another format, of a newer version, or of an older one without checksums.

    ``what`` names the format in messages (``"model"``, ``"DP classifier"``),
    ``redo`` says how to make a new folder (``"fit the model again"``),
    ``hint`` is added when the manifest's format is not ``expected``.
    """
    if not isinstance(manifest, dict) or manifest.get("format") != expected:
        raise ModelFileError(f"{folder / manifest_name} is not a Synthera {what} manifest{hint}")
    found = manifest.get("format_version")
    if not isinstance(found, int) or isinstance(found, bool) or found > version:
        raise ModelFileError(
            f"{folder} was saved in {what} format {found!r}; this Synthera reads up to {version}, upgrade it"
        )
    if found < version:
        raise ModelFileError(f"{folder} was saved in {what} format {found}, whose manifest has no checksum; {redo}")


def read_model(
    folder: str | os.PathLike,
    *,
    checksums: Mapping[str, str],
    check_header: Callable[[dict], None],
    build: Callable[[dict], T],
    manifest_name: str = "manifest.json",
    max_bytes: int = 64 << 20,
    how_to_make: str = "fit a model first",
) -> T:
    """Read a folder written by :func:`write_model` and return ``build(manifest)``.

    In order: the manifest must exist and parse; ``check_header`` checks its
    format, version and class; every data file must exist and match its
    recorded SHA-256 (before anything reads it); ``build`` checks and reads
    every field it uses; last, the manifest must match ``manifest_sha256``,
    so an edit that no field check catches (a category renamed) is refused.
    Every failure is a one-line :class:`ModelFileError`.
    """
    from synthera.io import read_manifest

    folder = Path(folder)
    if not folder.exists():
        backups = sorted(folder.parent.glob(f".{folder.name}.*.old")) if folder.parent.is_dir() else []
        if backups:
            raise ModelFileError(
                f"model folder not found: {folder}; a save was interrupted and the previous model is in "
                f"{backups[-1]}, rename it to {folder.name}"
            )
    manifest = read_manifest(folder, manifest_name, max_bytes=max_bytes, how_to_make=how_to_make)
    check_header(manifest)
    if MANIFEST_HASH_FIELD not in manifest:
        raise ModelFileError(
            f"{folder / manifest_name} has no checksum (older format, or edited); save the model again"
        )
    for name, field in checksums.items():
        path = folder / name
        if not path.is_file():
            raise ModelFileError(f"{folder} has no {name}; the model folder is incomplete, save it again")
        if _file_sha256(path) != manifest.get(field):
            raise ModelFileError(
                f"{path} does not match its manifest (checksum differs); the folder was modified, save it again"
            )
    obj = build(manifest)
    if manifest_digest(manifest) != manifest[MANIFEST_HASH_FIELD]:
        raise ModelFileError(
            f"{folder / manifest_name} does not match its checksum (checksum differs); "
            "the manifest was edited, save the model again"
        )
    return obj
