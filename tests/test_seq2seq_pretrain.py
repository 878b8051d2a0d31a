"""``zoo pretrain`` of the encoder-decoders on the standard library's docstrings: T5's span
corruption and BART's text infilling learn (loss well below its start), the checkpoint stores
the one shared embedding once and every variant (the encoder alone too) loads it, a fresh
model takes its special ids from the vocabulary, and a killed run resumes exactly."""
import os

import numpy as np
import pytest

import checkpoints
import zoo
from programs import assert_kill_and_resume_exact, metrics, zoo_program
from zoo.tokenizers import build_vocab

COMMON = ["--max-seq-length", "48", "--batch-size", "16", "--no-progress"]
# learning rates that learn at this size (a post-LN BART this small stalls at 2e-3)
LR = {"t5_tiny": "2e-3", "bart_tiny": "1e-3"}


@pytest.fixture(scope="module")
def vocabs(tmp_path_factory, text_corpus):
    """Each family's own kind of vocabulary, as zoo pretrain --vocab-size trains it."""
    out = {}
    for preset in ("t5_tiny", "bart_tiny"):
        family = zoo.get_family(preset)
        out[preset] = tmp_path_factory.mktemp(preset + "_vocab")
        build_vocab(family.vocab_kind, 500, [str(text_corpus)], str(out[preset]),
                    **family.vocab_options)
    return out


@pytest.fixture(scope="module", params=["t5_tiny", "bart_tiny"])
def trained(request, tmp_path_factory, text_corpus, vocabs):
    preset = request.param
    out = tmp_path_factory.mktemp(preset)
    zoo_program("pretrain", "--model", preset, *COMMON, "--corpus", text_corpus,
                "--eval-corpus", text_corpus, "--eval-batches", 5, "--vocab", vocabs[preset],
                "--output", out, "--max-steps", 160, "--lr", LR[preset], "--warmup-steps", 10,
                "--log-every", 10, "--save-every", 80)
    return preset, out


@pytest.mark.slow
def test_denoising_loss_falls_well_below_start(trained):
    preset, out = trained
    rows = [r for r in metrics(out) if r["split"] == "train"]
    assert [r["step"] for r in rows] == [1] + list(range(10, 161, 10))
    first, last = rows[0]["lm_loss"], np.mean([r["lm_loss"] for r in rows[-3:]])
    assert first > 5.5                   # about ln(500): the untrained model guesses uniformly
    assert last < 0.75 * first, (preset, first, last)
    assert rows[-1]["lm_acc"] > 3 * rows[0]["lm_acc"]
    evals = [r for r in metrics(out) if r["split"] == "eval"]
    assert len(evals) == 2 and evals[-1]["perplexity"] < evals[0]["perplexity"] < 500


@pytest.mark.slow
def test_checkpoint_stores_the_shared_embedding_once_and_every_variant_loads_it(trained,
                                                                               vocabs):
    preset, out = trained
    final = os.path.join(out, "model.params")
    info = checkpoints.inspect(final)
    tied = zoo.get_config(preset).tie_word_embeddings
    assert info.ties == {"encoder.embed_tokens.weight": "word_embed.weight",
                         "decoder.embed_tokens.weight": "word_embed.weight",
                         **({"lm_head.weight": "word_embed.weight"} if tied else {})}
    assert [n for n, s, _ in info.tensors if s and s[0] == 500 and len(s) == 2] == \
        ["word_embed.weight"]
    tok = zoo.get_tokenizer(final)
    config = info.config
    # a fresh model takes its special ids from the vocabulary it is trained with
    assert config["vocab_size"] == tok.vocab_size == 500
    assert config["pad_token_id"] == tok.pad_id and config["eos_token_id"] == tok.eos_id
    assert config["decoder_start_token_id"] == (tok.pad_id if preset == "t5_tiny"
                                                else tok.eos_id)
    for flags in (dict(use_lm=True), dict(), dict(encoder_only=True)):
        model = zoo.get_model(preset.split("_")[0], pretrained=final, **flags)
        report = model.load_report
        assert report.missing == [] and report.aliased == {}



@pytest.mark.slow
def test_zoo_generate_reads_the_prompt_as_the_source(trained):
    preset, out = trained
    final = os.path.join(out, "model.params")
    proc = zoo_program("generate", final, "--prompt", "Return the value of the attribute.",
                       "--max-new-tokens", 10)
    model = zoo.get_model(preset.split("_")[0], pretrained=final, use_lm=True)
    tok = zoo.get_tokenizer(final)
    ids = zoo.generate(model, [tok.encode_pair("Return the value of the attribute.").ids],
                       max_new_tokens=10, eos_id=tok.eos_id)[0]
    assert proc.stdout == tok.decode([t for t in ids if t != tok.eos_id]) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["t5_tiny", "bart_tiny"])
def test_kill_and_resume_equals_uninterrupted(preset, tmp_path, text_corpus, vocabs):
    common = ["--model", preset, *COMMON, "--corpus", text_corpus, "--vocab", vocabs[preset],
              "--max-steps", 30, "--save-every", 10, "--log-every", 5, "--seed", 5,
              "--buffer-documents", 50]
    assert_kill_and_resume_exact(common, tmp_path)
