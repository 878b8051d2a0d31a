"""BERT pretraining heads: masked language model (MLM) and next sentence prediction (NSP).

Neither head owns the vocabulary projection's weight in a built model: the model class
that attaches ``MLMHead`` as ``mlm_decoder`` declares
``@tied("mlm_decoder.decoder.weight", "word_embed.weight")``, so the decoder reads the
input embedding matrix (Press & Wolf, 2017; as in BERT). The decoder keeps its own bias.
"""
import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from ._layers import LayerNorm, activation_block, dense, gather_positions

__all__ = ["MLMHead", "NSPHead"]


class MLMHead(HybridBlock):
    """transform Dense + activation + LayerNorm + decoder Dense(vocab) with its own bias.

    Child names (``transform``, ``layer_norm``, ``decoder``) follow Hugging Face's
    ``cls.predictions.{transform.dense, transform.LayerNorm, decoder}`` one for one.

    ``embed_size`` (default ``units``): the width of a factorized embedding (ALBERT, ELECTRA),
    which ``transform`` projects down to, so that the decoder can read the (vocab_size,
    embed_size) embedding matrix.
    """

    def __init__(self, units, vocab_size, *, activation="gelu", layer_norm_eps=1e-12,
                 initializer_range=0.02, embed_size=None):
        super().__init__()
        embed_size = embed_size or units
        self.transform = dense(embed_size, units, initializer_range)
        self.activation = activation_block(activation)
        self.layer_norm = LayerNorm(epsilon=layer_norm_eps, in_channels=embed_size)
        # weight shape (vocab_size, embed_size) = the embedding matrix's: the tie type-checks
        self.decoder = dense(vocab_size, embed_size, initializer_range)

    def hybrid_forward(self, F, seq, masked_positions=None):
        """Scores over the vocabulary.

        seq: (B, L, units); masked_positions: (B, P) indices into L, or None for every
        position -> (B, P, vocab_size), or (B, L, vocab_size) when masked_positions is None.
        """
        hidden = seq if masked_positions is None else gather_positions(F, seq, masked_positions)
        hidden = self.layer_norm(self.activation(self.transform(hidden)))
        return self.decoder(hidden)


class NSPHead(nn.Dense):
    """Next sentence prediction: pooled (B, units) -> scores (B, 2).

    A plain Dense, so its parameters are ``<attr>.weight`` / ``<attr>.bias`` like Hugging
    Face's ``cls.seq_relationship`` and GluonNLP's ``classifier``.
    """

    def __init__(self, units, num_classes=2, *, initializer_range=0.02):
        super().__init__(num_classes, in_units=units, flatten=False,
                         weight_initializer=mx.init.Normal(initializer_range))
