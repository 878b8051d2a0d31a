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


def _temporaries(directory):
    """Temporary files of the atomic writer that hold data (a write under way)."""
    out = []
    for p in directory.iterdir():
        try:
            if p.name.endswith(".tmp") and p.stat().st_size > 0:
                out.append(p)
        except FileNotFoundError:       # renamed or removed meanwhile
            pass
    return out


@pytest.mark.parametrize("background", [False, True])
@pytest.mark.parametrize("ext", [".params", ".safetensors"])
def test_kill_during_save_keeps_previous_file(tmp_path, ext, background):
    small, path, x = _saved(tmp_path, ext)
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {HERE!r})
        import mxnet as mx
        from checkpoints import save
        from toy_models import EmbedWithDecoder, built, tokens
        m = built(EmbedWithDecoder(use_mlm=True, vocab=400000, units=64), tokens(), seed=7)
        print("ready", flush=True)
        while True:
            save(m, {str(path)!r}, background={background})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        deadline = time.time() + 60
        while time.time() < deadline and not _temporaries(tmp_path):
            pass
        assert _temporaries(tmp_path), "the saver never started writing"
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


# ------------------------------------------------------------ failing writes, concurrent writers

def _assert_untouched(directory, path, before):
    assert path.read_bytes() == before
    assert [p.name for p in directory.iterdir()] == [path.name]   # no temporary left


def test_write_past_the_file_size_limit_keeps_previous_file(tmp_path):
    model, path, x = _saved(tmp_path, ".params")
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import resource, signal, sys; sys.path.insert(0, {HERE!r})
        from checkpoints import CheckpointError, save
        from toy_models import EmbedWithDecoder, built, tokens
        m = built(EmbedWithDecoder(use_mlm=True, vocab=20000, units=16), tokens(), seed=7)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        try:
            save(m, {str(path)!r})
        except CheckpointError as e:
            print("error:", e)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"error: {path}: could not write (File too large)" in out.stdout
    assert "previous file at this path is intact" in out.stdout
    _assert_untouched(tmp_path, path, before)


class _ReadOnly:
    """A directory nobody can create files in: chmod for ordinary users; root ignores
    permissions, so for root the directory is made immutable (chattr +i) instead."""

    def __init__(self, directory):
        self.directory, self.root = directory, os.geteuid() == 0

    def __enter__(self):
        if not self.root:
            os.chmod(self.directory, 0o555)
        elif subprocess.run(["chattr", "+i", str(self.directory)], capture_output=True).returncode:
            pytest.skip("running as root where chattr +i is not available")
        return self

    def __exit__(self, *exc):
        if self.root:
            subprocess.run(["chattr", "-i", str(self.directory)], check=True)
        else:
            os.chmod(self.directory, 0o755)


@pytest.mark.parametrize("background", [False, True])
def test_write_into_read_only_directory_names_the_path(tmp_path, background):
    model, path, x = _saved(tmp_path, ".params")
    before = path.read_bytes()
    with _ReadOnly(tmp_path):
        with pytest.raises(CheckpointError, match=rf"{path}: cannot write here \(.*\); choose a writable"):
            handle = save(model, path, background=background)
            if handle is not None:
                handle.wait()
    _assert_untouched(tmp_path, path, before)


@pytest.mark.parametrize("ext", [".params", ".safetensors"])
def test_failing_fsync_keeps_previous_file(tmp_path, monkeypatch, ext):
    # With delayed allocation a full disk often shows only at fsync.
    model, path, x = _saved(tmp_path, ext)
    before = path.read_bytes()

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(CheckpointError, match=rf"{path}: could not write \(No space left"):
        save(built(EmbedWithDecoder(use_mlm=True), x, seed=9), path)
    monkeypatch.undo()
    _assert_untouched(tmp_path, path, before)


def test_two_writers_and_a_reader_on_one_path(tmp_path):
    """Two processes save different models to one path while a third loads it: every load
    reads one whole file, and the path ends as one of the two complete files."""
    path = tmp_path / "shared.params"
    writer = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {HERE!r})
        from checkpoints import save
        from toy_models import EmbedWithDecoder, built, tokens
        m = built(EmbedWithDecoder(use_mlm=True, vocab=100000, units=32), tokens(), seed=int(sys.argv[1]))
        print("ready", flush=True)
        for _ in range(int(sys.argv[2])):
            save(m, {str(path)!r}, durable=False)
    """)
    reader = textwrap.dedent(f"""
        import sys, time, zlib; sys.path.insert(0, {HERE!r})
        import numpy as np
        from checkpoints import load
        from toy_models import EmbedWithDecoder
        seen, deadline = {{}}, time.time() + float(sys.argv[1])
        while time.time() < deadline:
            m = EmbedWithDecoder(use_mlm=True, vocab=100000, units=32)
            load(m, {str(path)!r}, strict=True)
            key = zlib.crc32(m.word_embed.weight.data().asnumpy().tobytes())
            seen[key] = seen.get(key, 0) + 1
        print(sorted(seen.values()), flush=True)
    """)
    x = tokens()
    expected = {}
    for seed in (1, 2):
        m = built(EmbedWithDecoder(use_mlm=True, vocab=100000, units=32), x, seed=seed)
        expected[seed] = m.word_embed.weight.data().asnumpy()
    save(built(EmbedWithDecoder(use_mlm=True, vocab=100000, units=32), x, seed=1), path)
    writers = [subprocess.Popen([sys.executable, "-c", writer, str(seed), "40"], stdout=subprocess.PIPE)
               for seed in (1, 2)]
    for w in writers:
        assert w.stdout.readline().strip() == b"ready"
    read = subprocess.run([sys.executable, "-c", reader, "6"], capture_output=True, text=True, timeout=300)
    for w in writers:
        assert w.wait(timeout=300) == 0
    assert read.returncode == 0, read.stderr[-3000:]           # no load ever failed
    counts = eval(read.stdout.strip().splitlines()[-1])
    assert 1 <= len(counts) <= 2 and sum(counts) >= 3          # only the two models, whole
    final = EmbedWithDecoder(use_mlm=True, vocab=100000, units=32)
    load(final, path, strict=True)
    value = final.word_embed.weight.data().asnumpy()
    assert any(np.array_equal(value, e) for e in expected.values())
    assert [p.name for p in tmp_path.iterdir()] == ["shared.params"]


# ------------------------------------------------------------ loads racing an in-place writer

def _scribble(path, entry):
    """What a program rewriting the file in place does: other bytes at the same offsets."""
    with open(path, "r+b") as f:
        f.seek(entry.offset)
        f.write(b"\xff" * min(64, entry.nbytes))


def test_in_place_rewrite_during_a_fresh_load_never_loads_it(tmp_path, monkeypatch):
    from checkpoints import reader
    model, path, x = _saved(tmp_path, ".params")
    entry = formats.read_index(str(path)).entries["mlm_decoder.1.bias"]
    real = reader.read_new

    def racing(ckpt, e, out, checksums=None):
        if e.name == "mlm_decoder.1.bias":
            _scribble(path, entry)
        return real(ckpt, e, out, checksums)

    monkeypatch.setattr(reader, "read_new", racing)
    with pytest.raises(CorruptCheckpointError, match=r"mlm_decoder\.1\.bias.*crc32"):
        load(EmbedWithDecoder(use_mlm=True), path)


def test_in_place_rewrite_during_a_warm_reload_is_caught(tmp_path, monkeypatch):
    from checkpoints import reader
    model, path, x = _saved(tmp_path, ".params")
    entry = formats.read_index(str(path)).entries["word_embed.weight"]
    target = built(EmbedWithDecoder(use_mlm=True), x, seed=4)
    real = reader.read_in_place

    def racing(ckpt, e, out):          # between the checksum pass and the copy into place
        if e.name == "word_embed.weight":
            _scribble(path, entry)
        return real(ckpt, e, out)

    monkeypatch.setattr(reader, "read_in_place", racing)
    with pytest.raises(CorruptCheckpointError, match=r"modified while it was being read.*"
                                                     r"word_embed\.weight.*Load it again"):
        load(target, path)


def test_in_place_rewrite_before_a_warm_reload_leaves_the_model(tmp_path, monkeypatch):
    from checkpoints import reader
    model, path, x = _saved(tmp_path, ".params")
    entry = formats.read_index(str(path)).entries["word_embed.weight"]
    target = built(EmbedWithDecoder(use_mlm=True), x, seed=4)
    before = target(x).asnumpy()
    real = reader.checksum_through_buffers

    def racing(ckpt, entries, checksums):      # after the checksums, before the model changes
        real(ckpt, entries, checksums)
        time.sleep(0.02)                        # a later modification time, even on coarse clocks
        _scribble(path, entry)

    monkeypatch.setattr(reader, "checksum_through_buffers", racing)
    with pytest.raises(CheckpointError, match="modified while it was being read.*model is unchanged"):
        load(target, path)
    np.testing.assert_array_equal(target(x).asnumpy(), before)


# ------------------------------------------------------------ memory of a load

@pytest.mark.parametrize("warm", [False, True])
def test_load_holds_at_most_one_copy_of_the_parameters(tmp_path, warm):
    x = tokens()
    big = built(EmbedWithDecoder(use_mlm=True, vocab=200000, units=128), x)   # ~103 MB
    path = tmp_path / "big.params"
    save(big, path)
    del big
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {HERE!r})
        import mxnet as mx
        from checkpoints import load
        from toy_models import EmbedWithDecoder, built, tokens
        def kb(field):
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith(field + ":"))
        m = EmbedWithDecoder(use_mlm=True, vocab=200000, units=128)
        if {warm}:
            built(m, tokens())
        m.collect_params().setattr("grad_req", "null")
        mx.nd.waitall()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                        # the peak restarts from here
        base = kb("VmRSS")
        load(m, {str(path)!r})
        mx.nd.waitall()
        params = sum(p.data().size * 4 for p in m.collect_params().values())
        print((kb("VmHWM") - base) * 1024 / params)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    peak = float(out.stdout.strip().splitlines()[-1])
    # fresh: the parameters themselves; warm: only a few chunk buffers beyond what it had
    assert peak <= (1.02 if not warm else 0.3), peak


# ------------------------------------------------------------ a process that ends meanwhile

def test_process_exit_finishes_the_background_write_and_reports_a_failure(tmp_path):
    path, unwritable = tmp_path / "m.params", tmp_path / "missing-parent-is-a-file"
    unwritable.write_text("a file where a directory should be")
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {HERE!r})
        from checkpoints import save
        from toy_models import EmbedWithDecoder, built, tokens
        m = built(EmbedWithDecoder(use_mlm=True, vocab=200000, units=64), tokens(), seed=7)
        save(m, {str(path)!r}, background=True)
        print("returned", flush=True)           # and the interpreter ends right away
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "returned", out.stderr[-2000:]
    inspect(path, verify=True)                   # written completely before the exit
    failing = script.replace(repr(str(path)), repr(str(unwritable / "m.params")))
    out = subprocess.run([sys.executable, "-c", failing], capture_output=True, text=True, timeout=300)
    assert f"tiezoo: the background save of {unwritable / 'm.params'} failed" in out.stderr
    assert "Traceback" not in out.stderr
