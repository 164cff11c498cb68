"""open_regular: regular files open; FIFOs, devices, folders and (optionally) links refuse."""

from __future__ import annotations

import os

import pytest

from photosorter.core.userfiles import NotRegularFileError, open_regular, regular_size


def test_regular_file_reads(tmp_path):
    f = tmp_path / "a.jpg"
    f.write_bytes(b"abc")
    with open_regular(f) as fh:
        assert fh.read() == b"abc"
    assert regular_size(f) == 3


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_refused_without_blocking(tmp_path):
    fifo = tmp_path / "x.jpg.xmp"
    os.mkfifo(fifo)  # no writer: a plain open() would block forever
    with pytest.raises(NotRegularFileError, match="FIFO"):
        open_regular(fifo)
    with pytest.raises(NotRegularFileError):
        regular_size(fifo)


def test_device_and_folder_refused(tmp_path):
    with pytest.raises(NotRegularFileError, match="folder"):
        open_regular(tmp_path)
    if os.path.exists("/dev/zero"):
        with pytest.raises(NotRegularFileError, match="device"):
            open_regular("/dev/zero")


def test_symlink_followed_or_refused(tmp_path):
    target = tmp_path / "t.xmp"
    target.write_bytes(b"x")
    link = tmp_path / "l.xmp"
    link.symlink_to(target)
    with open_regular(link) as fh:
        assert fh.read() == b"x"
    with pytest.raises(NotRegularFileError, match="symbolic link"):
        open_regular(link, follow_symlinks=False)
