"""BART (Lewis et al., 2020): a post-LN encoder-decoder with learned positions, a shared word
embedding and an LM head with a fixed bias.

Parameter names (the checkpoint format)::

    word_embed.weight      (vocab_size, units)  <- canonical side of three ties: both stacks'
                                                   embed_tokens, and lm_head.weight when
                                                   config.tie_word_embeddings
    encoder.*, decoder.*   see zoo/models/bart/layers.py
    lm_head.weight         (vocab_size, units)  (use_lm; untied: a tensor of its own)
    lm_head.bias           (vocab_size,)        (use_lm; Hugging Face's final_logits_bias, a
                                                 constant there too: not trained)

Forward contract (API.md): ``enc_seq, dec_seq = model(src, src_valid_length, tgt,
tgt_valid_length)``; ``use_lm=True`` appends ``lm_scores``; ``encoder_only=True`` builds
the encoder alone. Every decoder model also decodes incrementally for :func:`zoo.generate`.
"""
import mxnet as mx

from ...encoder_decoder import EncoderDecoderModel
from .layers import BartDecoder, BartEncoder

__all__ = ["TASKS", "BartModel", "build_bart"]


# the finetuning tasks of the family (zoo/tasks/seq2seq.py)
TASKS = ("seq2seq",)


class BartModel(EncoderDecoderModel):
    """BART with or without its LM head, or its encoder alone (see the module docstring)."""

    encoder_class, decoder_class = BartEncoder, BartDecoder
    lm_head_bias = True

    def __init__(self, config, *, use_lm=False, encoder_only=False):
        super().__init__(config, use_lm=use_lm, encoder_only=encoder_only)
        if use_lm:
            # Hugging Face keeps final_logits_bias as a buffer: loaded and saved, never trained
            self.lm_head.bias.grad_req = "null"

    @staticmethod
    def embedding_initializer(config):
        return mx.init.Normal(config.initializer_range)

    lm_head_initializer = embedding_initializer

    @property
    def source_limit(self):
        return self.config.max_length

    @property
    def target_limit(self):
        return self.config.max_length


def build_bart(config, *, use_lm=False, encoder_only=False, task=None, num_classes=None):
    """The family's builder: the BART variant the flags ask for, not initialized; the
    ``seq2seq`` task is the model with its LM head."""
    if task not in (None,) + TASKS or num_classes is not None:
        raise ValueError(f"bart models finetune on {', '.join(TASKS)} (task={task!r}, "
                         f"num_classes={num_classes!r} given)")
    return BartModel(config, use_lm=use_lm or task is not None, encoder_only=encoder_only)
