"""The ``zoo`` command line: list, inspect (with checksum verification)."""
import subprocess
import sys

import mxnet as mx

import zoo
from checkpoints import formats, save
from zoo.cli import main


def test_list_shows_every_preset_with_counts_and_ties(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in zoo.list_models():
        assert name in out
    line = next(l for l in out.splitlines() if l.startswith("bert_base "))
    assert "109.48M" in line and "mlm_decoder.decoder.weight = word_embed.weight" in line
    assert "encoder.layers.* = encoder.layers.0" in next(l for l in out.splitlines()
                                                          if l.startswith("albert_base "))


def test_inspect_verifies_and_reports_corruption(tmp_path, capsys):
    model = zoo.get_model("bert_test", use_mlm=True)
    model(mx.nd.ones((1, 4)), mx.nd.zeros((1, 4)), mx.nd.array([4]), mx.nd.zeros((1, 1)))
    path = tmp_path / "m.params"
    save(model, path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "tie: mlm_decoder.decoder.weight -> word_embed.weight" in out
    assert "checksums: all" in out and '"family": "bert"' in out
    entry = formats.read_index(str(path)).entries["encoder.layers.1.ffn_2.weight"]
    data = bytearray(path.read_bytes())
    data[entry.offset + 5] ^= 0x10
    path.write_bytes(bytes(data))
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert "encoder.layers.1.ffn_2.weight" in err and "crc32" in err
    assert main(["inspect", "--no-verify", str(path)]) == 0


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "zoo", "list"], capture_output=True, text=True)
    assert proc.returncode == 0 and "bert_tiny" in proc.stdout
