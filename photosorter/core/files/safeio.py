"""Crash-safe single-file operations, each recorded in the journal before it acts.

A step row is written `pending` before anything touches the disk; a cross-filesystem move
becomes `copied` once a verified copy is in place and before the source is removed; it ends
`done` or `failed` (nothing changed). After a crash `recover_step` looks at the disk and
finishes or rolls back, never deleting what may be the only copy of a photo.

Every file PhotoSorter did not create is opened through `userfiles.open_regular`: a FIFO or
device never blocks anything, recovery included. Sidecars are never followed through a
symbolic link (the link would be replaced by a regular file).

The module-level `_rename`, `_rename_noreplace`, `_link`, `_copy_file`, `_fsync`, `_unlink`
and `_replace` are the seam tests patch to inject EXDEV, ENOSPC, EACCES or a crash.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import sys
from pathlib import Path

from photosorter.core.errors import FileOpError
from photosorter.core.files.steps import StepLog, StepRow
from photosorter.core.files.xmp import MAX_SIDECAR_BYTES
from photosorter.core.userfiles import (
    NotRegularFileError,
    hash_bytes,
    hash_stream,
    new_digest,
    open_regular,
    temp_name,
)

_CHUNK = 1 << 20
_NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)


# -- low-level seam -------------------------------------------------------------------
def _libc_rename_noreplace():
    if sys.platform not in ("linux", "darwin"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if sys.platform == "linux":
            fn = libc.renameat2
            return lambda a, b: fn(-100, a, -100, b, 1)  # AT_FDCWD, RENAME_NOREPLACE
        fn = libc.renamex_np
        return lambda a, b: fn(a, b, 0x4)  # RENAME_EXCL
    except (AttributeError, OSError):
        return None


_NOREPLACE = _libc_rename_noreplace()


def _rename_noreplace(src: Path, dst: Path) -> bool:
    """renameat2/renamex_np without replacing; False where the OS or filesystem lacks it."""
    if _NOREPLACE is None:
        return False
    if _NOREPLACE(os.fsencode(src), os.fsencode(dst)) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(src), None, str(dst))


def _link(src: Path, dst: Path) -> None:
    os.link(src, dst, follow_symlinks=False)


def _rename(src: Path, dst: Path) -> None:
    """Rename that never replaces `dst` (FileExistsError instead); EXDEV across devices."""
    if os.name == "nt":
        os.rename(src, dst)  # never replaces on Windows
        return
    if _rename_noreplace(src, dst):
        return
    try:  # a hard link cannot replace either; a crash in between leaves two names, one inode
        _link(src, dst)
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        _rename_over_placeholder(src, dst)  # no links here (FAT, exFAT, some shares)
        return
    os.unlink(src)


def _rename_over_placeholder(src: Path, dst: Path) -> None:
    """Claim `dst` with an empty file made create-exclusive, then rename over that claim.

    No file created meanwhile can be replaced: the name is ours from the O_EXCL open on.
    A crash in between leaves an empty `dst` beside the intact source (or temporary copy);
    `recover_step` removes it (see `_drop_placeholder`).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    os.close(os.open(dst, flags, 0o600))
    try:
        os.rename(src, dst)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(dst)
        raise


def _fsync(fd: int) -> None:
    os.fsync(fd)


def _copy_file(src: Path, dst: Path) -> str:
    """Copy bytes into the new file `dst` (never an existing one), flushed to disk."""
    digest = new_digest()
    with open_regular(src) as fin, open(dst, "xb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
        fout.flush()
        _fsync(fout.fileno())
    return digest.hexdigest()


def _unlink(path: Path) -> None:
    os.unlink(path)


def _replace(src: Path, dst: Path) -> None:
    os.replace(src, dst)


def file_hash(path: Path, *, follow_symlinks: bool = True) -> str:
    """The content hash of a regular file (the store's key for a photo)."""
    with open_regular(path, follow_symlinks=follow_symlinks) as fh:
        return hash_stream(fh)


bytes_hash = hash_bytes


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        _fsync(fd)
    except OSError:
        pass  # some filesystems cannot sync a folder; the rename is still atomic
    finally:
        os.close(fd)


def explain(exc: OSError, src: Path | None = None) -> str:
    """Plain words for an OSError from a file operation."""
    if isinstance(exc, NotRegularFileError):
        return f"{exc.filename} {exc.strerror}"
    code = exc.errno
    where = f": {exc.filename}" if exc.filename else ""
    if exc.filename2:
        where += f" -> {exc.filename2}"
    if code == errno.ENOSPC or code == getattr(errno, "EDQUOT", -1):
        return f"disk full (or over quota){where}"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}"
    if code == errno.EROFS:
        return f"read-only filesystem{where}"
    if code == errno.ENOENT and src is not None and not os.path.lexists(src):
        return f"the photo vanished before it could be handled: {src}"
    return f"{exc.strerror or exc}{where}"


# -- journalled operations --------------------------------------------------------------
def transfer(journal: StepLog, row: StepRow) -> None:
    """Carry out a recorded move or copy to `row.dest`, which must not exist.

    Same filesystem (move): one no-replace rename. Otherwise: copy to a temporary name
    beside the destination, fsync, verify size and hash, keep mtime, rename into place,
    fsync the folder, and only then remove the source. FileOpError (or FileExistsError,
    for a name taken meanwhile) leaves the source as it was. A source that vanishes while
    it is copied was moved by another program: our copy is removed again and that reported.
    """
    src, dst = row.source, row.dest
    if row.kind == "move":
        try:
            _rename(src, dst)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                journal.update(row, "failed", message=explain(exc, src))
                if isinstance(exc, FileExistsError):
                    raise
                raise FileOpError(explain(exc, src)) from exc
        else:
            journal.update(row, "done")
            return
    temp = temp_name(dst)
    journal.update(row, "pending", temp=temp)
    try:
        st = os.stat(src)
        digest = _copy_file(src, temp)
        after = os.stat(src)
        if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            raise FileOpError(f"the photo changed while it was being copied: {src}")
        if os.stat(temp).st_size != st.st_size or file_hash(temp) != digest:
            raise FileOpError(f"the copy in {dst.parent} did not verify (size or hash differ)")
        with contextlib.suppress(OSError):
            os.chmod(temp, stat.S_IMODE(st.st_mode))
        os.utime(temp, ns=(st.st_atime_ns, st.st_mtime_ns))
        _rename(temp, dst)
        if row.kind == "move":  # the new name must be durable before the source goes
            _fsync_dir(dst.parent)
    except (OSError, FileOpError) as exc:
        message = explain(exc, src) if isinstance(exc, OSError) else str(exc)
        try:
            if os.path.lexists(temp):
                _unlink(temp)
        except OSError:
            journal.update(row, "pending", message=message)  # recovery removes it later
        else:
            journal.update(row, "failed", message=message)
        if isinstance(exc, FileExistsError):
            raise
        raise FileOpError(message) from exc
    if row.kind == "copy":
        journal.update(row, "done", hash=digest)
        return
    journal.update(row, "copied", hash=digest)
    try:
        _unlink(src)
    except FileNotFoundError as exc:  # another program moved it: ours would be a duplicate
        message = _drop_our_copy(row, "it was moved away by another program meanwhile")
        journal.update(row, "failed", message=message)
        raise FileOpError(f"{src}: {message}") from exc
    except OSError as exc:
        message = f"could not remove the original ({explain(exc, src)})"
        try:
            _unlink(dst)
        except OSError:
            journal.update(row, "failed", message=f"{message}; both copies kept")
            raise FileOpError(f"{message}; the copy at {dst} was kept as well") from exc
        journal.update(row, "failed", message=message)
        raise FileOpError(message) from exc
    journal.update(row, "done")


def _drop_our_copy(row: StepRow, why: str) -> str:
    """Remove the verified copy at `row.dest` if still unchanged; says what happened."""
    try:
        if _digest(row.dest) != row.hash:
            return f"{why}; {row.dest} was changed meanwhile and kept"
        _unlink(row.dest)
    except OSError as exc:
        return f"{why}; our copy at {row.dest} was kept ({explain(exc)})"
    return f"{why}; our copy was removed"


def write_sidecar(
    journal: StepLog,
    op: int,
    photo: Path,
    sidecar: Path,
    content: bytes,
    before: str | None,
    *,
    info: dict | None = None,
    undoes: int | None = None,
    main: int | None = None,
) -> StepRow:
    """Atomically write `content` as `sidecar`; `before`: the hash the old one must still have;
    `main`: the step of the photo this file travels with (a RAW's sidecar: its JPEG's)."""
    data = {**(info or {}), "before": before}
    temp = temp_name(sidecar)
    row = journal.add(
        op, "sidecar", photo, sidecar, temp=temp, hash=bytes_hash(content), data=data,
        undoes=undoes, main=main,
    )  # fmt: skip
    try:
        with open(temp, "xb") as fh:
            fh.write(content)
            fh.flush()
            _fsync(fh.fileno())
        if before is None:
            _rename(temp, sidecar)  # a sidecar that appeared meanwhile is never replaced
        else:
            if _digest(sidecar) != before:
                raise FileOpError(f"{sidecar} changed while it was being updated; try again")
            _replace(temp, sidecar)
    except (OSError, FileOpError) as exc:
        message = explain(exc) if isinstance(exc, OSError) else str(exc)
        if isinstance(exc, FileExistsError):
            message = f"{sidecar} appeared while it was being written; try again"
        try:
            if os.path.lexists(temp):
                _unlink(temp)
        except OSError:
            journal.update(row, "pending", message=message)
        else:
            journal.update(row, "failed", message=message)
        raise FileOpError(message) from exc
    journal.update(row, "done")
    return row


def delete_copy(journal: StepLog, op: int, path: Path, expected: str, **extra: object) -> StepRow:
    """Remove a copy PhotoSorter made, only while its content is still `expected`."""
    row = journal.add(op, "delete", path, path, hash=expected, **extra)
    try:
        current = _digest(path)
        if current is None and not os.path.lexists(path):
            journal.update(row, "done", message="already gone")
            return row
        if current != expected:
            raise FileOpError(f"changed since it was copied; kept: {path}")
        _unlink(path)
    except OSError as exc:
        journal.update(row, "failed", message=explain(exc))
        raise FileOpError(explain(exc)) from exc
    except FileOpError as exc:
        journal.update(row, "failed", message=str(exc))
        raise
    journal.update(row, "done")
    return row


def _digest(path: Path, *, follow_symlinks: bool = False) -> str | None:
    """The hash of the regular file at `path`; None if there is none (never blocks).

    A FIFO or device there (or, unless followed, a symlink) is nothing PhotoSorter wrote.
    """
    try:
        return file_hash(path, follow_symlinks=follow_symlinks)
    except (FileNotFoundError, NotRegularFileError):
        return None


# -- recovery ---------------------------------------------------------------------------
def recover_step(journal: StepLog, row: StepRow, *, finish: bool = False) -> str | None:
    """Finish or roll back one interrupted step; a line saying what happened, or None.

    `finish`: a step that never started is carried out now (a companion whose photo
    already moved) instead of being marked failed. Only files whose content the journal
    vouches for are ever removed; anything else is kept and the line says so.
    """
    if row.state not in ("pending", "copied"):
        return None
    src, dst, temp = row.source, row.dest, row.temp
    if _is_placeholder(row):
        _unlink(dst)
    if row.kind == "mkdir":
        journal.update(row, "done" if dst.is_dir() else "failed")
        return None
    if row.kind == "delete":
        gone = not os.path.lexists(dst)
        journal.update(row, "done" if gone else "failed", message="interrupted")
        return f"{'removed' if gone else 'kept'} copy {dst}"
    if row.kind == "trash":  # send2trash moves the file in one step: it went or it stayed
        gone = not os.path.lexists(dst)
        journal.update(row, "done" if gone else "failed", message="interrupted")
        return f"{'moved' if gone else 'did not move'} {dst} to the trash"
    if temp is not None and os.path.lexists(temp):
        if row.kind != "sidecar" and not os.path.lexists(src) and row.state == "pending":
            # Never delete what may be the only copy: give it a findable name.
            final = dst if not os.path.lexists(dst) else free_name(dst)
            _rename(temp, final)
            journal.update(row, "failed", dest=final, message="source vanished; copy kept")
            return f"kept an interrupted copy of vanished {src} as {final} (check it)"
        _unlink(temp)
    if row.kind == "sidecar":
        ok = _digest(dst) == row.hash
        journal.update(row, "done" if ok else "failed", message="interrupted")
        return f"{'finished' if ok else 'rolled back'} writing {dst}"
    has_src, has_dst = os.path.lexists(src), os.path.lexists(dst)
    verb = "moving" if row.kind == "move" else "copying"
    if row.state == "copied":  # a verified copy was in place before the source went
        if not has_dst:
            journal.update(row, "failed", message="the copy vanished; the original stays")
            return f"rolled back {verb} {src} (the copy at {dst} vanished)"
        if has_src and _digest(src, follow_symlinks=True) != row.hash:
            journal.update(row, "failed", message="the original changed after it was copied")
            return f"kept both {src} (changed after it was copied) and its copy {dst}; check them"
        if has_src:
            _unlink(src)
        return _finished(journal, row, verb)
    if not has_dst:
        if not has_src:
            journal.update(row, "failed", message="the photo is no longer there")
            return f"could not recover {verb} {src}: it is no longer there"
        if finish:
            try:
                transfer(journal, row)
            except (OSError, FileOpError) as exc:
                return f"could not finish {verb} {src} -> {dst}: {exc}"
            return _finished(journal, row, verb)
        journal.update(row, "failed", message="interrupted; nothing was changed")
        return f"rolled back {verb} {src} (it stays where it was)"
    if not has_src:
        if row.kind == "move":
            return _finished(journal, row, verb)
        journal.update(row, "failed", message="the original is no longer there")
        return f"could not recover {verb} {src}: it is no longer there; {dst} was kept"
    same = _same_file(src, dst)
    if row.kind == "move" and same:  # link + unlink was interrupted
        _unlink(src)
        return _finished(journal, row, verb)
    digest = _digest(src, follow_symlinks=True)
    if digest is not None and not same and _digest(dst) == digest:  # the copy is in place
        if row.kind == "move":
            _unlink(src)
        row.hash = digest
        return _finished(journal, row, verb)
    journal.update(row, "failed", message=f"{dst} is another file; nothing was changed")
    return f"rolled back {verb} {src} ({dst} is another file, left alone)"


def _is_placeholder(row: StepRow) -> bool:
    """Is `row.dest` the empty claim `_rename_over_placeholder` left when a crash hit?

    That is: an empty regular file at the destination of a pending step whose content is
    still elsewhere (the temporary copy, or a source that is another file). A sidecar step
    counts only when no sidecar was there before (the user's own is never removed).
    """
    if row.state != "pending" or row.kind not in ("move", "copy", "sidecar"):
        return False
    try:
        st = os.lstat(row.dest)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_size != 0:
        return False
    has_temp = row.temp is not None and os.path.lexists(row.temp)
    if row.kind == "sidecar":
        return has_temp and row.data.get("before") is None
    return has_temp or (os.path.lexists(row.source) and not _same_file(row.source, row.dest))


def _finished(journal: StepLog, row: StepRow, verb: str) -> str:
    if row.state != "done":
        journal.update(row, "done")
    if row.kind == "move":
        journal.moved(row.source, row.dest)
    return f"finished {verb} {row.source} -> {row.dest}"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def free_name(path: Path) -> Path:
    """`name (1).ext`, `name (2).ext` ... : the first that does not exist."""
    stem, suffix = path.stem, path.suffix
    n = 1
    while os.path.lexists(candidate := path.with_name(f"{stem} ({n}){suffix}")):
        n += 1
    return candidate


def read_sidecar(sidecar: Path) -> bytes | None:
    """A sidecar's bytes (None when there is none).

    FileOpError when unreadable, huge, not a regular file (a FIFO, a device) or a symbolic
    link: such a sidecar is left exactly as it is, and the photo is not tagged.
    """
    try:
        with open_regular(sidecar, follow_symlinks=False) as fh:
            data = fh.read(MAX_SIDECAR_BYTES + 1)
    except FileNotFoundError:
        return None
    except NotRegularFileError as exc:  # a FIFO never blocks; a symlink is never replaced
        if exc.errno == errno.ELOOP:
            raise FileOpError(f"{sidecar} is a symbolic link; left as it is") from exc
        raise FileOpError(f"{sidecar} {exc.strerror}; left as it is") from exc
    except OSError as exc:
        raise FileOpError(f"cannot read {sidecar}: {explain(exc)}") from exc
    if len(data) > MAX_SIDECAR_BYTES:
        raise FileOpError(f"{sidecar} is too large to be an XMP sidecar; left as it is")
    return data
