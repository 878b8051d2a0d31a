"""Step checkpoints written in the background (RunDirectory): training waits only for the
host copies, one write at a time, errors surface, and a kill never costs a good checkpoint."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import mxnet as mx
import numpy as np
import pytest

import checkpoints
from checkpoints import CheckpointError, ModelSnapshot, load
from toy_models import EmbedWithDecoder, built, tokens
from zoo import training

HERE = os.path.dirname(os.path.abspath(__file__))


def _model_and_trainer(seed=3, **kw):
    model = built(EmbedWithDecoder(use_mlm=True, **kw), tokens(), seed=seed)
    return model, training.make_trainer(model, lr=1e-2)


def _step(model, trainer, x):
    with mx.autograd.record():
        loss = model(x).square().mean()
    loss.backward()
    trainer.step(1)


def _values(model):
    return {k: v.data().asnumpy().copy() for k, v in model._collect_params_with_prefix().items()}


class _Gate:
    """Holds each checkpoint's model file until released."""

    def __init__(self, monkeypatch):
        self.release, self.entered = threading.Event(), threading.Semaphore(0)
        real = ModelSnapshot.write_file

        def gated(snap, path, **kw):
            self.entered.release()
            assert self.release.wait(30), "the test never released the writer"
            return real(snap, path, **kw)

        monkeypatch.setattr(ModelSnapshot, "write_file", gated)


def test_training_continues_while_the_step_is_written(tmp_path, monkeypatch):
    x = tokens()
    model, trainer = _model_and_trainer()
    for _ in range(2):
        _step(model, trainer, x)
    at_save = _values(model)
    trainer.save_states(str(tmp_path / "expected.states"))
    run = training.RunDirectory(tmp_path / "run")
    gate = _Gate(monkeypatch)
    final = run.save(2, model, trainer, {"data": {"offset": 17}})
    assert gate.entered.acquire(timeout=30) and run.writing()
    assert not os.path.exists(final)                 # nothing visible until complete
    for _ in range(3):                                # the model and optimizer move on
        _step(model, trainer, x)
    gate.release.set()
    run.close()
    assert not run.writing() and sorted(os.listdir(final)) == ["model.params", "state.json",
                                                               "trainer.states"]
    path, state = run.latest()
    assert path == final and state["step"] == 2 and state["data"] == {"offset": 17}
    # the checkpoint holds step 2 exactly: parameters and optimizer states
    resumed, resumed_trainer = _model_and_trainer(seed=9)
    load(resumed, os.path.join(final, "model.params"))
    for name, value in _values(resumed).items():
        np.testing.assert_array_equal(value, at_save[name])
    resumed_trainer.load_states(os.path.join(final, "trainer.states"))
    reference, reference_trainer = _model_and_trainer(seed=9)
    load(reference, os.path.join(final, "model.params"))
    reference_trainer.load_states(str(tmp_path / "expected.states"))
    for _ in range(2):
        _step(resumed, resumed_trainer, x)
        _step(reference, reference_trainer, x)
    for name, value in _values(resumed).items():
        np.testing.assert_array_equal(value, _values(reference)[name])


def test_the_next_step_checkpoint_waits_for_the_previous(tmp_path, monkeypatch):
    model, trainer = _model_and_trainer()
    run = training.RunDirectory(tmp_path, keep_last=5)
    gate = _Gate(monkeypatch)
    run.save(1, model, trainer, {"data": {}})
    assert gate.entered.acquire(timeout=30)
    caller = threading.Thread(target=run.save, args=(2, model, trainer, {"data": {}}))
    caller.start()
    caller.join(0.5)
    assert caller.is_alive()                          # blocked behind step 1's write
    assert not gate.entered.acquire(timeout=0.2)      # and step 2's write has not started
    gate.release.set()
    caller.join(30)
    run.close()
    assert [s for s, _ in run._steps()] == [1, 2]


def test_a_failed_write_surfaces_at_check_close_and_next_save(tmp_path, monkeypatch):
    model, trainer = _model_and_trainer()
    run = training.RunDirectory(tmp_path, keep_last=5)
    run.save(1, model, trainer, {"data": {}})
    run.close()

    def disk_full(snap, path, **kw):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ModelSnapshot, "write_file", disk_full)
    message = (r"step-00000002: could not write checkpoint \(No space left on device\); "
               r"earlier checkpoints are intact")
    run.save(2, model, trainer, {"data": {}})         # returns: the write fails later
    deadline = time.time() + 30
    with pytest.raises(CheckpointError, match=message):
        while time.time() < deadline:                 # check() never waits, so poll it
            run.check()
            time.sleep(0.01)
    run.close()                                       # reported once
    run.save(3, model, trainer, {"data": {}})
    with pytest.raises(CheckpointError, match=message.replace("02", "03")):
        run.save(4, model, trainer, {"data": {}})     # the next save raises it
    monkeypatch.undo()
    assert sorted(os.listdir(run.dir)) == ["step-00000001"]   # no partial directory
    assert run.latest()[1]["step"] == 1


def test_step_directories_get_umask_permissions(tmp_path):
    model, trainer = _model_and_trainer()
    old = os.umask(0o022)
    try:
        run = training.RunDirectory(tmp_path)
        final = run.save(1, model, trainer, {"data": {}})
        run.close()
    finally:
        os.umask(old)
    assert os.stat(final).st_mode & 0o777 == 0o755
    for name in os.listdir(final):
        assert os.stat(os.path.join(final, name)).st_mode & 0o777 == 0o644, name


def test_kill_while_a_step_is_written_keeps_the_previous_one(tmp_path):
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {HERE!r})
        import mxnet as mx
        from toy_models import EmbedWithDecoder, built, tokens
        from zoo import training
        x = tokens()
        m = built(EmbedWithDecoder(use_mlm=True, vocab=300000, units=64), x, seed=7)
        trainer = training.make_trainer(m, lr=1e-3)
        run = training.RunDirectory({str(tmp_path)!r}, keep_last=2)
        step = 0
        while True:
            with mx.autograd.record():
                loss = m(x).square().mean()
            loss.backward()
            trainer.step(1)
            step += 1
            run.save(step, m, trainer, {{"data": {{"offset": step}}}})
            print(step, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    ckdir = tmp_path / "checkpoints"
    try:
        assert proc.stdout.readline().strip() == b"1"
        deadline = time.time() + 120
        while time.time() < deadline:                 # kill with a step directory half written
            partial = [p for p in ckdir.iterdir() if p.name.startswith(".step-")] if ckdir.exists() else []
            if partial and os.path.exists(ckdir / "step-00000001") and _has_data(partial[0]):
                break
        else:
            pytest.fail("never saw a step being written")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    run = training.RunDirectory(tmp_path, keep_last=2)
    path, state = run.latest()
    assert path is not None and state["data"]["offset"] == state["step"]
    model = EmbedWithDecoder(use_mlm=True, vocab=300000, units=64)
    load(model, os.path.join(path, "model.params"), strict=True)
    trainer = training.make_trainer(model, lr=1e-3)
    trainer.load_states(os.path.join(path, "trainer.states"))
    assert trainer.optimizer.num_update == state["step"]
    for entry in os.listdir(ckdir):                   # only complete steps (and the leftover)
        if entry.startswith("step-"):
            assert sorted(os.listdir(ckdir / entry)) == ["model.params", "state.json",
                                                         "trainer.states"]
            json.loads((ckdir / entry / "state.json").read_text())


def _has_data(directory):
    try:
        return any(os.path.getsize(os.path.join(directory, n)) > 0 for n in os.listdir(directory))
    except OSError:
        return False


def test_background_save_and_step_checkpoints_share_one_writer(tmp_path, monkeypatch):
    model, trainer = _model_and_trainer()
    run = training.RunDirectory(tmp_path / "run")
    gate = _Gate(monkeypatch)
    handle = checkpoints.save(model, tmp_path / "best.params", background=True)
    assert gate.entered.acquire(timeout=30)
    caller = threading.Thread(target=run.save, args=(1, model, trainer, {"data": {}}))
    caller.start()
    caller.join(0.5)
    assert caller.is_alive() and not handle.done()   # the step waits for the other write
    gate.release.set()
    caller.join(30)
    handle.wait()
    run.close()
    assert run.latest()[1]["step"] == 1
