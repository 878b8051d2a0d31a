"""save/load across variants: every variant loads every checkpoint, with no alias arguments."""
import mxnet as mx
import numpy as np
import pytest

from checkpoints import CheckpointError, ShapeMismatchError, inspect, load, read_assets, save
from toy_models import Chain, EmbedWithDecoder, SharedLayers, TwoDense, built, tokens

FORMATS = [".params", ".safetensors"]


def values(block):
    return {k: v.data().asnumpy() for k, v in block._collect_params_with_prefix().items()}


@pytest.mark.parametrize("ext", FORMATS)
def test_scenario1_with_head_into_headless(tmp_path, ext):
    x = mx.nd.random.uniform(shape=(3, 16))
    full = built(TwoDense(use_mlm=True), x)
    path = tmp_path / ("m" + ext)
    save(full, path)
    headless = TwoDense(use_mlm=False)
    report = load(headless, path)
    assert sorted(report.loaded) == ["l1.bias", "l1.weight"] and report.unused == []
    np.testing.assert_array_equal(headless(x).asnumpy(), full.l1(x).asnumpy())


@pytest.mark.parametrize("ext", FORMATS)
def test_scenario2_with_head_into_headless(tmp_path, ext):
    x = tokens()
    full = built(EmbedWithDecoder(use_mlm=True), x)
    path = tmp_path / ("m" + ext)
    save(full, path)
    headless = EmbedWithDecoder(use_mlm=False)
    report = load(headless, path)
    assert report.loaded == ["word_embed.weight"]
    assert sorted(report.unused) == ["mlm_decoder.0.bias", "mlm_decoder.0.weight", "mlm_decoder.1.bias"]
    assert report.missing == [] and report.aliased == {}
    np.testing.assert_array_equal(headless(x).asnumpy(), full.backbone(x).asnumpy())


@pytest.mark.parametrize("ext", FORMATS)
def test_headless_into_with_head(tmp_path, ext):
    x = tokens()
    headless = built(EmbedWithDecoder(use_mlm=False), x)
    path = tmp_path / ("m" + ext)
    save(headless, path)
    full = EmbedWithDecoder(use_mlm=True)
    report = load(full, path)
    assert report.loaded == ["word_embed.weight"]
    assert sorted(report.missing) == ["mlm_decoder.0.bias", "mlm_decoder.0.weight", "mlm_decoder.1.bias"]
    emb = headless.word_embed.weight.data().asnumpy()
    assert full.mlm_decoder[1].weight is full.word_embed.weight
    np.testing.assert_array_equal(full.mlm_decoder[1].weight.data().asnumpy(), emb)
    out = full(x)  # every parameter usable: the untied head was initialized
    assert out.shape == (2, 5, 50) and np.isfinite(out.asnumpy()).all()
    np.testing.assert_array_equal(full.mlm_decoder[1].bias.data().asnumpy(), 0)


@pytest.mark.parametrize("dedup", [True, False])
@pytest.mark.parametrize("use_mlm", [True, False])
def test_plain_mxnet_files_load_into_both_variants(tmp_path, dedup, use_mlm):
    x = tokens()
    full = built(EmbedWithDecoder(use_mlm=True), x)
    path = str(tmp_path / "plain.params")
    full.save_parameters(path, deduplicate=dedup)
    names = set(mx.nd.load(path))
    assert ("word_embed.weight" in names) == (not dedup)  # MXNet keeps only the alias
    target = EmbedWithDecoder(use_mlm=use_mlm)
    report = load(target, path)
    assert report.loaded[0] == "word_embed.weight"
    assert report.aliased == {"mlm_decoder.1.weight": "word_embed.weight"}
    expected = full(x) if use_mlm else full.backbone(x)
    np.testing.assert_array_equal(target(x).asnumpy(), expected.asnumpy())


@pytest.mark.parametrize("ext", FORMATS)
def test_chain_and_albert_style_files_hold_one_copy(tmp_path, ext):
    x = mx.nd.random.uniform(shape=(2, 4))
    chain = built(Chain(), x)
    save(chain, tmp_path / ("c" + ext))
    info = inspect(tmp_path / ("c" + ext))
    assert [t[0] for t in info.tensors if t[0].endswith("weight")] == ["c.weight"]
    back = Chain()
    load(back, tmp_path / ("c" + ext))
    np.testing.assert_array_equal(back(x).asnumpy(), chain(x).asnumpy())

    x = mx.nd.random.uniform(shape=(2, 3, 8))
    deep = built(SharedLayers(num_layers=6), x)
    save(deep, tmp_path / ("a" + ext))
    info = inspect(tmp_path / ("a" + ext))
    assert sorted(t[0] for t in info.tensors) == ["layers.0.bias", "layers.0.weight"]
    shallow = built(SharedLayers(num_layers=1), x)
    save(shallow, tmp_path / ("s" + ext))
    assert (tmp_path / ("a" + ext)).stat().st_size - (tmp_path / ("s" + ext)).stat().st_size < 600
    other = SharedLayers(num_layers=3)  # another depth loads the same shared layer
    load(other, tmp_path / ("a" + ext))
    np.testing.assert_array_equal(other.layers[2].weight.data().asnumpy(),
                                  deep.layers[0].weight.data().asnumpy())


def test_mx_nd_load_reads_canonical_tensors(tmp_path):
    x = tokens()
    full = built(EmbedWithDecoder(use_mlm=True), x)
    save(full, tmp_path / "m.params")
    raw = mx.nd.load(str(tmp_path / "m.params"))
    assert set(raw) == {"word_embed.weight", "mlm_decoder.0.weight", "mlm_decoder.0.bias",
                        "mlm_decoder.1.bias", "__tiezoo__"}
    np.testing.assert_array_equal(raw["word_embed.weight"].asnumpy(),
                                  full.word_embed.weight.data().asnumpy())
    # and MXNet's own loader accepts it once the metadata key is ignored
    headless = EmbedWithDecoder(use_mlm=False)
    headless.load_parameters(str(tmp_path / "m.params"), ignore_extra=True)
    np.testing.assert_array_equal(headless(x).asnumpy(), full.backbone(x).asnumpy())


def test_safetensors_interoperates_with_the_package(tmp_path):
    from safetensors.numpy import load_file, save_file
    x = tokens()
    full = built(EmbedWithDecoder(use_mlm=True), x)
    save(full, tmp_path / "m.safetensors")
    raw = load_file(str(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(raw["word_embed.weight"], full.word_embed.weight.data().asnumpy())
    # a foreign safetensors file (no tiezoo metadata) with only the alias name loads too
    save_file({k: v.data().asnumpy() for k, v in full._collect_params_with_prefix().items()
               if k != "word_embed.weight"}, str(tmp_path / "foreign.safetensors"))
    headless = EmbedWithDecoder(use_mlm=False)
    report = load(headless, tmp_path / "foreign.safetensors")
    assert report.aliased == {"mlm_decoder.1.weight": "word_embed.weight"}
    np.testing.assert_array_equal(headless(x).asnumpy(), full.backbone(x).asnumpy())


@pytest.mark.parametrize("ext", FORMATS)
def test_metadata_config_assets_and_ties(tmp_path, ext):
    x = tokens()
    full = built(EmbedWithDecoder(use_mlm=True), x)
    path = tmp_path / ("m" + ext)
    save(full, path, config={"family": "toy", "units": 8}, assets={"vocab.txt": "a\nb\n", "sp.model": b"\x00\xff"})
    info = inspect(path, verify=True)
    assert info.format_version == 1
    assert info.ties == {"mlm_decoder.1.weight": "word_embed.weight"}
    assert info.config == {"family": "toy", "units": 8}
    assert dict((n, (tuple(s), d)) for n, s, d in info.tensors)["word_embed.weight"] == ((50, 8), "float32")
    assert read_assets(path) == {"vocab.txt": b"a\nb\n", "sp.model": b"\x00\xff"}
    assert "word_embed.weight" in str(info)


def test_file_size_is_unique_parameter_bytes_plus_small_metadata(tmp_path):
    x = tokens(vocab=2000)
    full = built(EmbedWithDecoder(use_mlm=True, vocab=2000, units=64), x)
    unique = sum(p.data().size * 4 for p in full.collect_params().values())
    for ext in FORMATS:
        save(full, tmp_path / ("m" + ext))
        size = (tmp_path / ("m" + ext)).stat().st_size
        assert unique <= size < unique * 1.01, (ext, size, unique)


def test_strict_rejects_unused_and_missing(tmp_path):
    x = tokens()
    full = built(EmbedWithDecoder(use_mlm=True), x)
    save(full, tmp_path / "m.params")
    with pytest.raises(CheckpointError, match="mlm_decoder.0.weight"):
        load(EmbedWithDecoder(use_mlm=False), tmp_path / "m.params", strict=True)
    assert load(EmbedWithDecoder(use_mlm=True), tmp_path / "m.params", strict=True).unused == []


def test_shape_mismatch_names_tensor_and_both_shapes(tmp_path):
    x = tokens()
    save(built(EmbedWithDecoder(use_mlm=False), x), tmp_path / "m.params")
    other = EmbedWithDecoder(use_mlm=False, vocab=60)
    with pytest.raises(ShapeMismatchError, match=r"word_embed\.weight.*\(50, 8\).*\(60, 8\)"):
        load(other, tmp_path / "m.params")


def test_load_into_initialized_model_overwrites_values(tmp_path):
    x = tokens()
    a = built(EmbedWithDecoder(use_mlm=True), x, seed=1)
    b = built(EmbedWithDecoder(use_mlm=True), x, seed=2)
    save(a, tmp_path / "a.params")
    load(b, tmp_path / "a.params")
    np.testing.assert_array_equal(b(x).asnumpy(), a(x).asnumpy())


def test_uninitialized_model_cannot_be_saved(tmp_path):
    with pytest.raises(CheckpointError, match="word_embed.weight.*not initialized"):
        save(EmbedWithDecoder(use_mlm=False), tmp_path / "m.params")


def test_unknown_extension(tmp_path):
    with pytest.raises(CheckpointError, match=r"\.params, \.safetensors"):
        save(EmbedWithDecoder(), tmp_path / "m.bin")


# ---------------------------------------------------------------- durable, background, reload

def _values(block):
    return {k: v.data().asnumpy().copy() for k, v in block._collect_params_with_prefix().items()}


@pytest.mark.parametrize("ext", FORMATS)
def test_non_durable_save_writes_the_same_file(tmp_path, ext):
    x = tokens()
    full = built(EmbedWithDecoder(use_mlm=True), x)
    save(full, tmp_path / ("a" + ext), config={"family": "toy"})
    save(full, tmp_path / ("b" + ext), config={"family": "toy"}, durable=False)
    assert (tmp_path / ("a" + ext)).read_bytes() == (tmp_path / ("b" + ext)).read_bytes()
    inspect(tmp_path / ("b" + ext), verify=True)


class _Gate:
    """Holds every checkpoint write until released, counting writes that run at once."""

    def __init__(self, monkeypatch):
        import threading
        from checkpoints import ModelSnapshot
        self.release, self.entered = threading.Event(), threading.Semaphore(0)
        self.running = self.most = 0
        self.lock = threading.Lock()
        real = ModelSnapshot.write_file

        def gated(snap, path, **kw):
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            self.entered.release()
            try:
                assert self.release.wait(30), "the test never released the writer"
                return real(snap, path, **kw)
            finally:
                with self.lock:
                    self.running -= 1

        monkeypatch.setattr(ModelSnapshot, "write_file", gated)


@pytest.mark.parametrize("ext", FORMATS)
def test_background_save_copies_before_returning(tmp_path, monkeypatch, ext):
    x = tokens()
    model = built(EmbedWithDecoder(use_mlm=True), x)
    before, out_before = _values(model), model(x).asnumpy()
    gate = _Gate(monkeypatch)
    handle = save(model, tmp_path / ("m" + ext), background=True)
    assert gate.entered.acquire(timeout=30) and not handle.done()
    for param in model.collect_params().values():   # training goes on meanwhile
        param.set_data(param.data() * 0 + 7)
    gate.release.set()
    assert handle.wait() is True and handle.done()
    back = EmbedWithDecoder(use_mlm=True)
    load(back, tmp_path / ("m" + ext), strict=True)
    for name, value in _values(back).items():
        np.testing.assert_array_equal(value, before[name])
    np.testing.assert_array_equal(back(x).asnumpy(), out_before)


def test_background_saves_are_serialized(tmp_path, monkeypatch):
    import threading
    x = tokens()
    a = built(EmbedWithDecoder(use_mlm=True), x, seed=1)
    b = built(EmbedWithDecoder(use_mlm=True), x, seed=2)
    gate = _Gate(monkeypatch)
    path = tmp_path / "m.params"
    first = save(a, path, background=True)
    assert gate.entered.acquire(timeout=30)
    second = []
    caller = threading.Thread(target=lambda: second.append(save(b, path, background=True)))
    caller.start()
    caller.join(0.5)
    assert caller.is_alive() and not first.done()   # the second save waits for the first
    gate.release.set()
    caller.join(30)
    first.wait()
    second[0].wait()
    assert gate.most == 1
    target = EmbedWithDecoder(use_mlm=True)
    load(target, path)                               # the later save landed last
    np.testing.assert_array_equal(target(x).asnumpy(), b(x).asnumpy())


def test_background_write_error_surfaces(tmp_path, monkeypatch):
    from checkpoints import ModelSnapshot, wait_for_background
    x = tokens()
    model = built(EmbedWithDecoder(use_mlm=False), x)
    save(model, tmp_path / "m.params")
    before = (tmp_path / "m.params").read_bytes()

    def disk_full(snap, path, **kw):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ModelSnapshot, "write_file", disk_full)
    handle = save(model, tmp_path / "m.params", background=True)
    with pytest.raises(CheckpointError, match=r"m\.params.*No space left.*intact"):
        handle.wait()
    assert isinstance(handle.exception(), CheckpointError)
    # nobody waits for the next one: the save after it raises its error instead
    save(model, tmp_path / "m.params", background=True)
    with pytest.raises(CheckpointError, match="No space left"):
        save(model, tmp_path / "n.params")
    wait_for_background()                            # reported once, not again
    assert (tmp_path / "m.params").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.params"]


def test_warm_reload_overwrites_parameters_in_place(tmp_path):
    x = tokens()
    a = built(EmbedWithDecoder(use_mlm=True), x, seed=1)
    save(a, tmp_path / "a.params")
    b = built(EmbedWithDecoder(use_mlm=True), x, seed=2)
    b.hybridize(static_alloc=True)
    b(x)                                             # cached graph and arrays in use
    held = b.word_embed.weight.data()                # a reference taken before the reload
    report = load(b, tmp_path / "a.params")
    assert b.word_embed.weight.data() is held        # same memory, new values
    np.testing.assert_array_equal(held.asnumpy(), a.word_embed.weight.data().asnumpy())
    np.testing.assert_array_equal(b(x).asnumpy(), a(x).asnumpy())
    fresh = EmbedWithDecoder(use_mlm=True)
    assert load(fresh, tmp_path / "a.params").loaded == report.loaded
    np.testing.assert_array_equal(fresh(x).asnumpy(), a(x).asnumpy())


def test_reload_into_another_dtype_converts(tmp_path):
    x = tokens()
    a = built(EmbedWithDecoder(use_mlm=False), x)
    save(a, tmp_path / "a.params")
    b = built(EmbedWithDecoder(use_mlm=False), x, seed=5)
    b.cast("float16")
    load(b, tmp_path / "a.params")
    assert b.word_embed.weight.data().dtype == np.float16
    np.testing.assert_array_equal(b.word_embed.weight.data().asnumpy(),
                                  a.word_embed.weight.data().asnumpy().astype(np.float16))


@pytest.mark.parametrize("ext", FORMATS)
def test_directory_given_as_checkpoint_says_which_file(tmp_path, ext):
    x = tokens()
    model = built(EmbedWithDecoder(use_mlm=False), x)
    step = tmp_path / "step-00000010"
    step.mkdir()
    save(model, step / ("model" + ext))
    for call in (lambda: load(EmbedWithDecoder(), step), lambda: inspect(step)):
        with pytest.raises(CheckpointError, match=rf"step-00000010 is a directory; pass the "
                                                  rf"checkpoint file inside it \(.*model\{ext}\)"):
            call()
    with pytest.raises(CheckpointError, match="is a directory"):
        save(model, step)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match=r"empty is a directory.*holds no \.params"):
        load(EmbedWithDecoder(), empty)


def test_new_files_get_umask_permissions_existing_keep_theirs(tmp_path):
    import os
    x = tokens()
    model = built(EmbedWithDecoder(use_mlm=False), x)
    old = os.umask(0o027)
    try:
        save(model, tmp_path / "a.params")
        assert (tmp_path / "a.params").stat().st_mode & 0o777 == 0o640
        os.umask(0o022)
        save(model, tmp_path / "b.safetensors", background=True).wait()
        assert (tmp_path / "b.safetensors").stat().st_mode & 0o777 == 0o644
        os.chmod(tmp_path / "a.params", 0o600)
        save(model, tmp_path / "a.params")
        assert (tmp_path / "a.params").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_trainer_snapshot_resumes_like_save_states(tmp_path):
    from checkpoints import snapshot_trainer
    from zoo import training
    x = tokens()

    def trained_pair():
        model = built(EmbedWithDecoder(use_mlm=True), x, seed=3)
        return model, training.make_trainer(model, lr=1e-2)

    def step(model, trainer):
        with mx.autograd.record():
            loss = model(x).square().mean()
        loss.backward()
        trainer.step(1)

    model, trainer = trained_pair()
    for _ in range(3):
        step(model, trainer)
    save(model, tmp_path / "m.params")
    trainer.save_states(str(tmp_path / "mxnet.states"))
    snap = snapshot_trainer(trainer)
    step(model, trainer)                             # the snapshot must not see this step
    snap.write_file(str(tmp_path / "tiezoo.states"))
    finals = []
    for states in ("mxnet.states", "tiezoo.states"):
        resumed, resumed_trainer = trained_pair()
        load(resumed, tmp_path / "m.params")
        resumed_trainer.load_states(str(tmp_path / states))
        assert resumed_trainer.optimizer.num_update == 3
        for _ in range(2):
            step(resumed, resumed_trainer)
        finals.append(_values(resumed))
    for name in finals[0]:
        np.testing.assert_array_equal(finals[1][name], finals[0][name])


def test_atomic_helpers_create_files_with_umask_permissions(tmp_path):
    import os
    from checkpoints.atomic import atomic_open, atomic_write, umask_mode
    old = os.umask(0o027)
    try:
        assert umask_mode() == 0o640 and umask_mode(0o777) == 0o750
        atomic_write(tmp_path / "a.json", "{}")
        with atomic_open(tmp_path / "b.txt", "w", durable=False) as f:
            f.write("text")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").read_text() == "{}" and (tmp_path / "b.txt").read_text() == "text"
    for name in ("a.json", "b.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640


def test_command_line_names_the_file_inside_a_directory(tmp_path, capsys):
    from zoo.cli import main
    x = tokens()
    step = tmp_path / "step-00000010"
    step.mkdir()
    save(built(EmbedWithDecoder(use_mlm=False), x), step / "model.params")
    assert main(["inspect", str(step)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"pass the checkpoint file inside it ({step / 'model.params'})" in err[0]


@pytest.mark.parametrize("durable", [True, False])
def test_durable_save_fsyncs_file_and_directory(tmp_path, monkeypatch, durable):
    import os
    x = tokens()
    model = built(EmbedWithDecoder(use_mlm=False), x)
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.path.realpath(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    save(model, tmp_path / "m.params", durable=durable)
    if durable:     # the data (under its temporary name), then the directory after the rename
        assert len(synced) == 2 and synced[0].endswith(".tmp") and synced[1] == str(tmp_path)
    else:
        assert synced == []
