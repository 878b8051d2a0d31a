"""``zoo generate CKPT --prompt TEXT``: the continuation of ``zoo.generate``, printed as it is
produced; beam search and sampling options; clear one-line errors."""
import io

import mxnet as mx
import numpy as np
import pytest

import zoo
from checkpoints import save
from zoo.cli import generate as generate_cli
from zoo.cli import main as zoo_main
from zoo.tokenizers import build_vocab


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, text_corpus):
    folder = tmp_path_factory.mktemp("gen")
    tok = build_vocab("byte_bpe", 400, [str(text_corpus)], str(folder / "vocab"), layout="gpt2")
    model = zoo.get_model("gpt2_tiny", vocab_size=tok.vocab_size, use_lm=True)
    rng = np.random.RandomState(0)
    for p in model.collect_params().values():           # peaked scores: varied continuations
        p.set_data(p.data() + mx.nd.array(rng.normal(0, 0.3, size=p.shape)))
    path = folder / "model.params"
    save(model, str(path), config=model.config, assets=tok.to_assets())
    return path, zoo.get_model("gpt2", pretrained=str(path), use_lm=True), tok


class _Recorder(io.StringIO):
    """stdout that remembers every write: streaming means many of them."""

    def __init__(self):
        super().__init__()
        self.writes = []

    def write(self, text):
        self.writes.append(text)
        return super().write(text)


def test_prints_the_continuation_as_it_is_produced(checkpoint, monkeypatch):
    path, model, tok = checkpoint
    prompt = "The module provides"
    out = _Recorder()
    monkeypatch.setattr("sys.stdout", out)
    assert zoo_main(["generate", str(path), "--prompt", prompt, "--max-new-tokens", "20",
                     "--no-eos"]) == 0
    ids = zoo.generate(model, [tok.encode(prompt)], max_new_tokens=20)[0]
    assert out.getvalue() == tok.decode(ids) + "\n"
    assert len([w for w in out.writes if w]) > 5              # token by token, not at the end


def test_stops_at_end_of_text_and_runs_beam_search_and_sampling(checkpoint, capsys):
    path, model, tok = checkpoint
    eos = tok.eos_id
    prompt = tok.encode("Return the")
    for argv, kw in ((["--num-beams", "3"], dict(num_beams=3)),
                     (["--do-sample", "--top-k", "5", "--seed", "3"],
                      dict(do_sample=True, top_k=5, seed=3)),
                     (["--eos-id", str(eos)], {})):
        assert generate_cli.main([str(path), "--prompt", "Return the", "--max-new-tokens",
                                  "12", "--echo", *argv]) == 0
        ids = zoo.generate(model, [prompt], max_new_tokens=12, eos_id=eos, **kw)[0]
        shown = [t for t in ids if t != eos]
        assert capsys.readouterr().out == "Return the" + tok.decode(shown) + "\n", argv


def test_mistakes_are_one_line_with_status_2(checkpoint, tmp_path, capsys):
    path, _, _ = checkpoint
    bert = tmp_path / "bert.params"
    save(zoo.get_model("bert_test"), str(bert), config=zoo.get_config("bert_test"))
    cases = [([str(path), "--prompt", "word " * 70], "more than the 64 positions"),
             ([str(path), "--prompt", "hi", "--max-new-tokens", "100"],
              "lower max_new_tokens to at most"),
             ([str(path), "--prompt", "hi", "--num-beams", "0"], "num_beams must be"),
             ([str(bert), "--prompt", "hi"], "an encoder"),
             ([str(tmp_path / "none.params"), "--prompt", "hi"], "no such checkpoint")]
    for argv, message in cases:
        assert generate_cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("zoo generate: error: ") and message in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
