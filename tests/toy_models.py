"""Tiny blocks shared by the checkpoint tests: the two scenarios of the motivating report
(MXNet issue 18717), rewritten with ``@tied``, and a few tie shapes beyond them."""
import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from checkpoints import tied

VOCAB, UNITS = 50, 8


@tied("l2", "l1")
class TwoDense(HybridBlock):
    """Scenario 1: ``l2`` shares every parameter of ``l1``; ``use_mlm=False`` drops ``l2``."""

    def __init__(self, use_mlm=False):
        super().__init__()
        self.use_mlm = use_mlm
        self.l1 = nn.Dense(16)
        if use_mlm:
            self.l2 = nn.Dense(16)

    def hybrid_forward(self, F, x):
        x = self.l1(x)
        return self.l2(x) if self.use_mlm else x


@tied("mlm_decoder.1.weight", "word_embed.weight")
class EmbedWithDecoder(HybridBlock):
    """Scenario 2: the MLM decoder's last Dense reuses the word embedding (deferred shape)."""

    def __init__(self, use_mlm=False, vocab=VOCAB, units=UNITS):
        super().__init__()
        self.use_mlm = use_mlm
        self.word_embed = nn.Embedding(vocab, units)
        if use_mlm:
            self.mlm_decoder = nn.HybridSequential()
            self.mlm_decoder.add(nn.Dense(units, flatten=False))
            self.mlm_decoder.add(nn.Dense(vocab, flatten=False))  # in_units deferred

    def backbone(self, x):
        return self.word_embed(x)

    def hybrid_forward(self, F, x):
        x = self.word_embed(x)
        return self.mlm_decoder(x) if self.use_mlm else x


@tied("layers.*", "layers.0")
class SharedLayers(HybridBlock):
    """ALBERT-style: every layer is layer 0, declared once."""

    def __init__(self, num_layers=4, units=UNITS):
        super().__init__()
        self.layers = nn.HybridSequential()
        for _ in range(num_layers):
            self.layers.add(nn.Dense(units, in_units=units, flatten=False))

    def hybrid_forward(self, F, x):
        return self.layers(x)


@tied("a", "b")
@tied("b", "c")
class Chain(HybridBlock):
    """A chain of ties a -> b -> c, declared by two stacked decorators."""

    def __init__(self):
        super().__init__()
        self.a = nn.Dense(4, in_units=4)
        self.b = nn.Dense(4, in_units=4)
        self.c = nn.Dense(4, in_units=4)

    def hybrid_forward(self, F, x):
        return self.a(self.b(self.c(x)))


def tokens(batch=2, length=5, vocab=VOCAB, seed=0):
    rng = mx.random.seed(seed)  # noqa: F841 - deterministic ids for every test
    return mx.nd.random.randint(0, vocab, shape=(batch, length)).astype("float32")


def built(block, x, seed=0):
    """Initialize with a fixed seed and run one forward pass (finishes deferred shapes)."""
    mx.random.seed(seed)
    block.initialize(mx.init.Normal(0.1))
    block(x)
    return block
