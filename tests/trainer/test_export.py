"""`python -m trainer export` of a file that is not a training checkpoint: one line, not a
traceback, and a non-zero exit; nothing in the file is run."""

from __future__ import annotations

import pickle

import pytest
import torch

from trainer.__main__ import main


class _Payload:
    """Unpickling this would call `print`: torch's weights_only loader must refuse it."""

    def __reduce__(self):
        return (print, ("payload ran",))


def _export(path, tmp_path, capsys) -> tuple[int, str, str]:
    rc = main(["export", str(path), "--name", "x", "--models-dir", str(tmp_path / "models"),
               "--no-calibrate"])
    out, err = capsys.readouterr()
    return rc, out, err


def test_pickle_with_code_is_refused_in_one_line(tmp_path, capsys):
    bad = tmp_path / "step_1.pt"
    torch.save({"config": {}, "generator": {}, "step": 1, "extra": _Payload()}, bad)
    rc, out, err = _export(bad, tmp_path, capsys)
    assert rc != 0
    assert "payload ran" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "step_1.pt: refused" in lines[0] and "Traceback" not in err
    assert not (tmp_path / "models" / "x.safetensors").exists()


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b"PK\x03\x04broken zip",
                                     pickle.dumps([1, 2, 3])])
def test_unreadable_or_foreign_files_are_one_line(tmp_path, capsys, content):
    bad = tmp_path / "step_2.pt"
    bad.write_bytes(content)
    rc, _, err = _export(bad, tmp_path, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc != 0 and len(lines) == 1 and "step_2.pt" in lines[0], err


def test_plain_tensor_file_is_not_a_checkpoint(tmp_path, capsys):
    bad = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, bad)
    rc, _, err = _export(bad, tmp_path, capsys)
    assert rc != 0 and "is not a SketchLab training checkpoint" in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
