"""Test-side helpers for comparing tiezoo's encoder-decoders (BART, T5) with tiny random
``transformers`` models: the models, padded batches, transformers' outputs on them.

Nothing is downloaded: every model is built here from a small config with random weights.
"""
import numpy as np

from hf_port import attention_mask, randomize_torch

VOCAB = 99

# BART of every code path: unequal stack depths, several heads, scaled embeddings, 40 positions
BART = dict(vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=3,
            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=48,
            decoder_ffn_dim=48, max_position_embeddings=40, dropout=0.0,
            attention_dropout=0.0, activation_dropout=0.0, scale_embedding=True,
            pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
            forced_eos_token_id=None)
# T5 of every code path: heads x head_dim != d_model, unequal stack depths, few buckets and a
# short max distance so that test sequences reach the logarithmic buckets
T5 = dict(vocab_size=VOCAB, d_model=32, d_kv=6, d_ff=48, num_layers=2, num_decoder_layers=3,
          num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=12,
          dropout_rate=0.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
T5_V1_1 = dict(T5, feed_forward_proj="gated-gelu", tie_word_embeddings=False)


def hf_bart(arch="BartForConditionalGeneration", seed=0, untied=False, **overrides):
    """A random transformers BART. ``untied``: a separate LM head with the stacks' tables
    equal to ``shared`` (transformers 5 unties those too when told ``tie_word_embeddings:
    false``; a BART whose stacks read different tables is no BART tiezoo converts)."""
    import torch
    import transformers
    config = transformers.BartConfig(**{**BART, "tie_word_embeddings": not untied,
                                        **overrides})
    model = getattr(transformers, arch)(config).eval()
    randomize_torch(model, seed)
    if untied:
        base = model.model if hasattr(model, "model") else model
        with torch.no_grad():
            base.encoder.embed_tokens.weight.copy_(base.shared.weight)
            base.decoder.embed_tokens.weight.copy_(base.shared.weight)
    if hasattr(model, "final_logits_bias"):     # a buffer randomize_torch does not reach
        gen = torch.Generator().manual_seed(seed + 100)
        model.final_logits_bias.copy_(torch.randn(model.final_logits_bias.shape,
                                                  generator=gen) * 0.1)
    return model


def hf_t5(arch="T5ForConditionalGeneration", seed=0, v1_1=False, **overrides):
    """A random transformers T5 (``v1_1``: gated GELU, unscaled, with an LM head of its own,
    as a T5 v1.1 checkpoint loaded by transformers 5 has)."""
    import torch
    import transformers
    config = transformers.T5Config(**{**(T5_V1_1 if v1_1 else T5), **overrides})
    model = getattr(transformers, arch)(config).eval()
    randomize_torch(model, seed)
    if v1_1 and hasattr(model, "lm_head"):
        gen = torch.Generator().manual_seed(seed + 100)
        model.lm_head.weight = torch.nn.Parameter(
            torch.randn(model.lm_head.weight.shape, generator=gen) * 0.3)
    return model


def padded_pair(seed=0, B=3, S=17, T=13, low=3):
    """Random source and decoder-input ids, right-padded (the padding ids are arbitrary:
    they must not matter), with valid lengths that include 1 and the full length."""
    rng = np.random.RandomState(seed)
    src = rng.randint(low, VOCAB, size=(B, S))
    tgt = rng.randint(low, VOCAB, size=(B, T))
    return src, np.array([S, 6, 1])[:B], tgt, np.array([T, 4, 1])[:B]


def hf_forward(model, src, src_valid, tgt=None, tgt_valid=None):
    """transformers' outputs on a padded batch (the encoder alone when ``tgt`` is None)."""
    import torch
    kwargs = dict(input_ids=torch.tensor(src),
                  attention_mask=torch.tensor(attention_mask(src, src_valid)))
    if tgt is not None:
        kwargs.update(decoder_input_ids=torch.tensor(tgt),
                      decoder_attention_mask=torch.tensor(attention_mask(tgt, tgt_valid)))
    with torch.no_grad():
        return model(**kwargs)

