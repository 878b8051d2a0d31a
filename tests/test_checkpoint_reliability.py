"""Nothing is lost and nothing is loaded wrong: atomic saves, checksums, hostile files."""
import os
import random
import signal
import struct
import subprocess
import sys
import textwrap
import time

import mxnet as mx
import numpy as np
import pytest

from checkpoints import (CheckpointError, CorruptCheckpointError, TieConflictError, inspect,
                         load, save)
from checkpoints import formats
from toy_models import EmbedWithDecoder, built, tokens

HERE = os.path.dirname(os.path.abspath(__file__))


def _saved(tmp_path, ext, **kw):
    x = tokens()
    model = built(EmbedWithDecoder(use_mlm=True, **kw), x)
    path = tmp_path / ("m" + ext)
    save(model, path)
    return model, path, x


def _vm_hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


@pytest.mark.parametrize("ext", [".params", ".safetensors"])
def test_kill_during_save_keeps_previous_file(tmp_path, ext):
    small, path, x = _saved(tmp_path, ext)
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {HERE!r})
        import mxnet as mx
        from checkpoints import save
        from toy_models import EmbedWithDecoder, built, tokens
        m = built(EmbedWithDecoder(use_mlm=True, vocab=400000, units=64), tokens(), seed=7)
        print("ready", flush=True)
        while True:
            save(m, {str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        deadline = time.time() + 60
        temp = None
        while time.time() < deadline and temp is None:
            temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") and p.stat().st_size > 0]
            temp = temps[0] if temps else None
        assert temp is not None, "the saver never started writing"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # Whatever the kill interrupted, the name holds a complete file: the old one, or a
    # complete new one if a rename won the race. Either verifies and loads exactly.
    info = inspect(path, verify=True)
    vocab = dict((n, s) for n, s, _ in info.tensors)["word_embed.weight"][0]
    assert vocab in (50, 400000)
    target = EmbedWithDecoder(use_mlm=True, vocab=vocab, units=8 if vocab == 50 else 64)
    load(target, path, strict=True)
    if vocab == 50:
        np.testing.assert_array_equal(target(x).asnumpy(), small(x).asnumpy())


def test_failing_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    model, path, x = _saved(tmp_path, ".params")
    before = path.read_bytes()
    mod = formats.format_for(path)
    real_write = mod.write

    def disk_full(p, tensors, metadata):
        real_write(p, tensors, metadata)
        with open(p, "r+b") as f:
            f.truncate(100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mod, "write", disk_full)
    with pytest.raises(CheckpointError, match="No space left.*previous file at this path is intact"):
        save(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.params"]


@pytest.mark.parametrize("ext", [".params", ".safetensors"])
def test_flipped_bit_in_tensor_names_the_tensor(tmp_path, ext):
    _, path, _ = _saved(tmp_path, ext)
    entry = formats.read_index(str(path)).entries["word_embed.weight"]
    data = bytearray(path.read_bytes())
    data[entry.offset + 37] ^= 0x04
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match=r"word_embed\.weight.*crc32"):
        load(EmbedWithDecoder(use_mlm=False), path)
    with pytest.raises(CorruptCheckpointError, match=r"word_embed\.weight"):
        inspect(path, verify=True)


def test_failed_load_leaves_model_untouched(tmp_path):
    model, path, x = _saved(tmp_path, ".params")
    entry = formats.read_index(str(path)).entries["mlm_decoder.1.bias"]
    data = bytearray(path.read_bytes())
    data[entry.offset] ^= 0x80
    path.write_bytes(bytes(data))
    target = built(EmbedWithDecoder(use_mlm=True), x, seed=3)
    before = target(x).asnumpy()
    with pytest.raises(CorruptCheckpointError, match="mlm_decoder.1.bias"):
        load(target, path)
    np.testing.assert_array_equal(target(x).asnumpy(), before)


@pytest.mark.parametrize("ext", [".params", ".safetensors"])
def test_truncated_files_raise(tmp_path, ext):
    _, path, _ = _saved(tmp_path, ext)
    data = path.read_bytes()
    cut = tmp_path / ("cut" + ext)
    for n in sorted(set([0, 1, 7, 8, 23, 24, 40, len(data) // 2, len(data) - 1]
                        + random.Random(0).sample(range(len(data)), 40))):
        cut.write_bytes(data[:n])
        with pytest.raises(CheckpointError, match="cut"):
            load(EmbedWithDecoder(use_mlm=False), cut)


@pytest.mark.parametrize("ext", [".params", ".safetensors"])
def test_empty_random_and_wrong_magic_files_raise(tmp_path, ext):
    bad = tmp_path / ("bad" + ext)
    rng = np.random.RandomState(0)
    for payload in [b"", rng.bytes(10), rng.bytes(4096), b"PK\x03\x04" + rng.bytes(100),
                    struct.pack("<QQQ", 0x113, 0, 1) + rng.bytes(64)]:
        bad.write_bytes(payload)
        with pytest.raises(CheckpointError, match="bad"):
            load(EmbedWithDecoder(use_mlm=False), bad)
    with pytest.raises(CheckpointError, match="cannot read"):
        load(EmbedWithDecoder(), tmp_path / ("absent" + ext))


def _forged_params(tmp_path, dims, count=1):
    body = struct.pack("<QQQ", 0x112, 0, count)
    body += struct.pack("<Iii", 0xF993FAC9, 0, len(dims)) + struct.pack(f"<{len(dims)}q", *dims)
    body += struct.pack("<iii", 1, 0, 0) + b"\x00" * 64
    path = tmp_path / "forged.params"
    path.write_bytes(body)
    return path


def test_forged_huge_shapes_and_offsets_do_not_allocate(tmp_path):
    start = _vm_hwm_kb()
    cases = [
        _forged_params(tmp_path, [1 << 20, 1 << 20]),               # 4 TiB claimed
        _forged_params(tmp_path, [-5, 3]),                           # negative dim
        _forged_params(tmp_path, [2] * 1000),                        # absurd ndim
        _forged_params(tmp_path, [4], count=1 << 60),                # absurd array count
    ]
    for path in cases:
        with pytest.raises(CheckpointError, match="forged"):
            load(EmbedWithDecoder(use_mlm=False), path)
        with pytest.raises(CheckpointError):
            inspect(path)
    st = tmp_path / "forged.safetensors"
    for header in [b'{"w": {"dtype": "F32", "shape": [1048576, 1048576], "data_offsets": [0, 4398046511104]}}',
                   b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8000000000]}}',
                   b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}',
                   b'{"w": {"dtype": "X99", "shape": [2], "data_offsets": [0, 8]}}',
                   b'[' * 100000]:
        st.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 8)
        with pytest.raises(CheckpointError, match="forged"):
            load(EmbedWithDecoder(use_mlm=False), st)
    st.write_bytes(struct.pack("<Q", 1 << 62) + b"{}")
    with pytest.raises(CheckpointError, match="header claims"):
        load(EmbedWithDecoder(use_mlm=False), st)
    assert _vm_hwm_kb() - start < 64 * 1024  # far below any forged size


@pytest.mark.parametrize("ext", [".params", ".safetensors"])
def test_any_single_byte_corruption_is_caught_or_harmless(tmp_path, ext):
    model, path, x = _saved(tmp_path, ext, vocab=20, units=4)
    data = path.read_bytes()
    good = {k: v.data().asnumpy() for k, v in model._collect_params_with_prefix().items()}
    bad = tmp_path / ("fuzz" + ext)
    positions = sorted(random.Random(1).sample(range(len(data)), min(len(data), 300)))
    for pos in positions:
        mutated = bytearray(data)
        mutated[pos] ^= 1 << (pos % 8)
        bad.write_bytes(bytes(mutated))
        target = EmbedWithDecoder(use_mlm=True, vocab=20, units=4)
        try:
            load(target, bad)
        except CheckpointError:
            continue
        for name, value in good.items():  # loaded: then the values are exactly right
            np.testing.assert_array_equal(target._collect_params_with_prefix()[name].data().asnumpy(),
                                          value, err_msg=f"byte {pos} flipped, {name} silently wrong")


def test_alias_and_canonical_with_different_values_is_an_error(tmp_path):
    x = tokens()
    model = built(EmbedWithDecoder(use_mlm=True), x)
    tensors = {k: v.data() for k, v in model._collect_params_with_prefix().items()}
    tensors["mlm_decoder.1.weight"] = tensors["word_embed.weight"] + 1
    path = str(tmp_path / "conflict.params")
    mx.nd.save(path, tensors)
    for variant in (True, False):
        with pytest.raises(TieConflictError, match=r"word_embed\.weight.*mlm_decoder\.1\.weight"):
            load(EmbedWithDecoder(use_mlm=variant), path)


def test_newer_format_version_is_refused(tmp_path):
    from checkpoints import io
    x = tokens()
    model = built(EmbedWithDecoder(use_mlm=False), x)
    orig = io.FORMAT_VERSION
    io.FORMAT_VERSION = orig + 1
    try:
        save(model, tmp_path / "new.params")
    finally:
        io.FORMAT_VERSION = orig
    with pytest.raises(CheckpointError, match="newer"):
        load(EmbedWithDecoder(), tmp_path / "new.params")
