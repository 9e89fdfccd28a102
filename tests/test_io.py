"""plumbing.atomic: a result file is either the old one or the new one, never a partial write."""

from __future__ import annotations

import os

import pytest

from plumbing.atomic import atomic_path, atomic_write_bytes


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "result.csv"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old" and os.listdir(target.parent) == ["result.csv"]


def test_a_finished_write_replaces_the_file_with_the_usual_permissions(tmp_path):
    target = tmp_path / "result.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"new")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_bytes() == b"new" and (target.stat().st_mode & 0o777) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["result.bin"]
