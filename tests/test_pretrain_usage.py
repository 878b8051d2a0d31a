"""The pretraining program refuses a user's mistake in one line: exit status 2, no
traceback, nothing written or overwritten. Most cases call ``main`` in this process (it
catches everything it reports); the first runs the real program, as a user would."""
import hashlib
import os
import subprocess
import sys

import pytest

from zoo.cli import pretrain

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "pretrain.py")
TINY = ["--model", "bert_test", "--max-seq-length", "32", "--batch-size", "4", "--no-progress"]


def snapshot(folder):
    """{relative path: (sha256, mtime_ns)} of every file under ``folder``."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(path, folder)] = (digest, os.stat(path).st_mtime_ns)
    return out


def refused(capsys, *argv):
    """Run ``main``; assert status 2 and exactly one stderr line; -> that line."""
    status = pretrain.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pretrain: error: "), err
    return lines[0]


def test_a_typo_in_model_is_one_line_with_the_close_names(tmp_path, text_corpus, wordpiece_vocab):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, SCRIPT, "--model", "bert_tinny", "--corpus", text_corpus,
                           "--vocab", wordpiece_vocab, "--output", out, "--max-steps", "2"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pretrain: error: --model: unknown model 'bert_tinny'. Did you mean 'bert_tiny'")
    assert not out.exists()


def test_output_pointing_at_a_file_is_refused(tmp_path, capsys, text_corpus, wordpiece_vocab):
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n")
    line = refused(capsys, *TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab,
                   "--output", target, "--max-steps", 2)
    assert f"--output {target}: is a file" in line
    assert target.read_text() == "keep me\n"


def test_a_folder_holding_a_previous_run_needs_resume_or_overwrite(tmp_path, capsys, text_corpus,
                                                                    wordpiece_vocab):
    out = tmp_path / "run"
    common = [*TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--output", out]
    assert pretrain.main([str(a) for a in [*common, "--max-steps", 2, "--save-every", 1]]) == 0
    capsys.readouterr()
    before = snapshot(out)
    assert "checkpoints/step-00000001/model.params" in before and "model.params" in before

    line = refused(capsys, *common, "--max-steps", 3)
    assert f"--output {out} holds a previous run (metrics.jsonl" in line
    assert "add --resume to continue it or --overwrite to replace it" in line
    assert refused(capsys, *common, "--max-steps", 3, "--resume", "--overwrite").endswith(
        "--resume and --overwrite are exclusive: continue the previous run or replace it (see --help)")
    assert snapshot(out) == before   # not a byte touched

    # --overwrite: the previous run is gone, not mixed into the new one
    assert pretrain.main([str(a) for a in [*common, "--max-steps", 1, "--log-every", 1,
                                           "--overwrite"]]) == 0
    assert "[overwrite] removed the previous run" in capsys.readouterr().err
    assert sorted(os.listdir(out / "checkpoints")) == ["step-00000001"]
    assert [l for l in (out / "metrics.jsonl").read_text().splitlines()
            if '"train"' in l and '"step": 2' in l] == []
    assert snapshot(out)["model.params"] != before["model.params"]


def test_a_vocabulary_that_does_not_exist_yet(tmp_path, capsys, text_corpus):
    out = tmp_path / "run"
    line = refused(capsys, *TINY, "--corpus", text_corpus, "--vocab", tmp_path / "vocab",
                   "--output", out, "--max-steps", 2)
    assert f"--vocab {tmp_path / 'vocab'}: no such file or folder" in line
    assert "zoo build-vocab" in line and "--vocab-size" in line
    assert not out.exists()


@pytest.mark.parametrize("argv, words", [
    (["--corpus", "c.txt", "--output", "o"], "the following arguments are required: --max-steps (see --help)"),
    (["--corpus", "c.txt", "--output", "o", "--max-steps", "two"], "--max-steps: invalid int value: 'two'"),
    (["--corpus", "c.txt", "--output", "o", "--max-steps", "2", "--dist-timeout", "0"],
     "--dist-timeout must be positive"),
])
def test_a_bad_command_line_is_one_line_not_a_usage_dump(tmp_path, capsys, argv, words):
    assert words in refused(capsys, *argv)


def test_a_distributed_kvstore_outside_a_job_says_how_to_start_one(tmp_path, capsys, text_corpus,
                                                                   wordpiece_vocab, monkeypatch):
    monkeypatch.delenv("DMLC_ROLE", raising=False)
    line = refused(capsys, *TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab,
                   "--output", tmp_path / "run", "--max-steps", 2, "--kvstore", "dist_sync")
    assert "--kvstore dist_sync runs as one process of a distributed job" in line
    assert "zoo launch" in line
    assert not (tmp_path / "run").exists()
