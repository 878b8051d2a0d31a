"""T5 (Raffel et al., 2020) and T5 v1.1: a pre-LN encoder-decoder with relative position
buckets, RMS LayerNorm, no biases, and a head that T5 ties and scales and T5 v1.1 does not.

Parameter names (the checkpoint format)::

    word_embed.weight      (vocab_size, units)  <- canonical side of three ties: both stacks'
                                                   embed_tokens, and lm_head.weight when
                                                   config.tie_word_embeddings (T5)
    encoder.*, decoder.*   see zoo/models/t5/layers.py
    lm_head.weight         (vocab_size, units)  (use_lm; untied in T5 v1.1: its own tensor)

Forward contract (API.md): ``enc_seq, dec_seq = model(src, src_valid_length, tgt,
tgt_valid_length)``; ``use_lm=True`` appends ``lm_scores``; ``encoder_only=True`` builds
the encoder alone (Hugging Face's ``T5EncoderModel``), e.g. for sentence embeddings.
"""
import mxnet as mx

from ...encoder_decoder import EncoderDecoderModel
from .layers import T5Decoder, T5Encoder

__all__ = ["TASKS", "T5Model", "build_t5"]


# the finetuning tasks of the family (zoo/tasks/seq2seq.py)
TASKS = ("seq2seq",)


class T5Model(EncoderDecoderModel):
    """T5 with or without its LM head, or its encoder alone (see the module docstring)."""

    encoder_class, decoder_class = T5Encoder, T5Decoder
    lm_head_bias = False
    # relative positions: no table limits what the stacks read
    source_limit = target_limit = None

    @staticmethod
    def embedding_initializer(config):
        return mx.init.Normal(config.initializer_factor)

    lm_head_initializer = embedding_initializer

    def lm_input(self, F, seq):
        """T5 (not v1.1) rescales the decoder output by units**-0.5 before the head."""
        if self.config.scale_decoder_outputs:
            return seq * (self.config.units ** -0.5)
        return seq


def build_t5(config, *, use_lm=False, encoder_only=False, task=None, num_classes=None):
    """The family's builder: the T5 variant the flags ask for, not initialized; the
    ``seq2seq`` task is the model with its LM head."""
    if task not in (None,) + TASKS or num_classes is not None:
        raise ValueError(f"t5 models finetune on {', '.join(TASKS)} (task={task!r}, "
                         f"num_classes={num_classes!r} given)")
    return T5Model(config, use_lm=use_lm or task is not None, encoder_only=encoder_only)
