"""scripts/deployment.py: the student's wheel as deployed."""

import deployment


def test_directory_mb_counts_files_below(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 600_000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 400_000)
    assert deployment.directory_mb(tmp_path) == 1.0
