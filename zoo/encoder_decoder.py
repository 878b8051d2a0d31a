"""What the encoder-decoder families (BART, T5) share: multi-head attention in its three
uses (encoder self-attention, causal decoder self-attention, cross-attention) and two modes,
the additive masks, and the incremental decoding session that :func:`zoo.generate` drives.

Modes
-----
* Whole sequences (training, teacher-forced scoring, the encoder in generation):
  time-major ``(L, B, units)`` through MXNet's fused ``interleaved_matmul_selfatt_*`` and
  ``interleaved_matmul_encdec_*`` kernels (as BERT's encoder), one additive mask per
  stack in the scores' full shape ``(B*heads, Lq, Lk)``, built once and added by every layer.
* One new token per row (generation): batch-major ``(B, units)``; the decoder's own keys
  and values so far are a cache ``(B, heads, T, head_dim)`` passed in, and the token's key
  and value come out for the session to write into it; cross-attention reads the encoder's
  keys and values ``(B, heads, S, head_dim)``, computed once per source.

The attention is parameterized by what differs between the families: biases on the
projections (BART) or not (T5), and scaled dot products (BART) or unscaled ones (T5, whose
query initialization absorbs the scale). A relative position bias (T5) is not the
attention's business: it is part of the additive mask its caller builds.

Parameter names: ``query``, ``key``, ``value`` (inner = heads * head_dim, units) and
``proj`` (units, inner), each ``weight`` (and ``bias`` where used).
"""
import math
import warnings

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock, nn

from checkpoints import tied
from heads._layers import MASKED_SCORE

from .decoding import attend_one, cached_graphs, layer_views, take_rows, use_native_attention
from .generation import GenerationError

__all__ = ["MultiHeadAttention", "EncoderDecoderModel", "padding_mask", "causal_padding_mask",
           "param_value", "EncoderDecoderSession", "MASKED_SCORE"]


def param_value(F, param, like):
    """A parameter as the graph being built sees it: a variable when tracing, the data on
    ``like``'s context when running imperatively."""
    return param.var() if F is mx.sym else param.data(like.context)


class MultiHeadAttention(HybridBlock):
    """Multi-head attention with separate query/key/value projections and an output one.

    ``scaled``: scores are ``q.k / sqrt(head_dim)`` (BART) or ``q.k`` (T5). The fused
    kernels always divide by sqrt(head_dim), so the unscaled form multiplies the queries by
    it first.
    """

    def __init__(self, units, num_heads, head_dim, *, use_bias, scaled, dropout,
                 query_init, key_value_init, proj_init):
        super().__init__()
        self.units, self.num_heads, self.head_dim = units, num_heads, head_dim
        self.inner = num_heads * head_dim
        self.use_bias, self.scaled = use_bias, scaled
        self.native_decode = False   # decided by the decoding graphs (zoo.decoding)

        def linear(out_units, in_units, init):
            return nn.Dense(out_units, in_units=in_units, use_bias=use_bias, flatten=False,
                            weight_initializer=init)
        self.query = linear(self.inner, units, query_init)
        self.key = linear(self.inner, units, key_value_init)
        self.value = linear(self.inner, units, key_value_init)
        self.proj = linear(units, self.inner, proj_init)
        self.dropout = nn.Dropout(dropout)

    # ---------------------------------------------------------------- whole sequences
    def _interleaved(self, F, like, projections, scale_first=1.0):
        """The weights (and biases) of ``projections`` as one matrix whose rows are
        interleaved per head, ``[p0_h; p1_h; ...]``: the fused kernels' layout."""
        heads, d, units = self.num_heads, self.head_dim, self.units
        weights, biases = [], []
        for i, p in enumerate(projections):
            w = param_value(F, p.weight, like)
            if i == 0 and scale_first != 1.0:
                w = w * scale_first
            weights.append(F.reshape(w, shape=(heads, d, units)))
            if self.use_bias:
                b = param_value(F, p.bias, like)
                if i == 0 and scale_first != 1.0:
                    b = b * scale_first
                biases.append(F.reshape(b, shape=(heads, d)))
        n = len(projections)
        weight = F.reshape(F.stack(*weights, axis=1), shape=(n * self.inner, units))
        bias = F.reshape(F.stack(*biases, axis=1), shape=(n * self.inner,)) if biases else None
        return weight, bias

    def _project(self, F, x, weight, bias, rows):
        if bias is None:
            return F.FullyConnected(x, weight, no_bias=True, num_hidden=rows, flatten=False)
        return F.FullyConnected(x, weight, bias, num_hidden=rows, flatten=False)

    def _unscale(self):
        """What the queries are multiplied by so that the kernels' 1/sqrt(d) cancels."""
        return 1.0 if self.scaled else math.sqrt(self.head_dim)

    def self_attend(self, F, x, mask):
        """x (L, B, units) time-major; mask (B*heads, L, L) additive or None -> (L, B, units)."""
        weight, bias = self._interleaved(F, x, (self.query, self.key, self.value),
                                         self._unscale())
        qkv = self._project(F, x, weight, bias, 3 * self.inner)
        scores = F.contrib.interleaved_matmul_selfatt_qk(qkv, heads=self.num_heads)
        probs = self.dropout(F.softmax(scores if mask is None else scores + mask, axis=-1))
        context = F.contrib.interleaved_matmul_selfatt_valatt(qkv, probs, heads=self.num_heads)
        return self.proj(context)

    def memory(self, F, memory):
        """Encoder output (S, B, units) time-major -> keys and values interleaved per head
        (S, B, heads * 2 * head_dim), what :meth:`cross_attend` reads."""
        weight, bias = self._interleaved(F, memory, (self.key, self.value))
        return self._project(F, memory, weight, bias, 2 * self.inner)

    def cross_attend(self, F, x, memory_kv, mask):
        """x (T, B, units); memory_kv from :meth:`memory`; mask (B*heads, T, S) -> (T, B, units)."""
        q = self.query(x)
        if not self.scaled:
            q = q * self._unscale()
        scores = F.contrib.interleaved_matmul_encdec_qk(q, memory_kv, heads=self.num_heads)
        probs = self.dropout(F.softmax(scores if mask is None else scores + mask, axis=-1))
        context = F.contrib.interleaved_matmul_encdec_valatt(memory_kv, probs,
                                                             heads=self.num_heads)
        return self.proj(context)

    # ------------------------------------------------------------------ one token per row
    def _heads(self, F, y):
        """(B, inner) -> (B, heads, 1, head_dim): a reshape, no copy."""
        return F.reshape(y, shape=(-1, self.num_heads, 1, self.head_dim))

    def _queries(self, F, x):
        """x (B, units) -> queries (B*heads, 1, head_dim), scaled as the scores need."""
        q = F.reshape(self.query(x), shape=(-1, 1, self.head_dim))
        return q * (1.0 / math.sqrt(self.head_dim)) if self.scaled else q

    def _output(self, F, context):
        """Context (B*H, 1, d) -> the output projection (B, units)."""
        return self.proj(F.reshape(context, shape=(-1, self.inner)))

    def self_step(self, F, x, mask, k_cache, v_cache):
        """One token per row against the self-attention cache.

        x (B, units); mask (B or 1, H or 1, 1, T + 1) additive over the T cache slots and
        the token itself (last); k_cache, v_cache (B * heads, T, head_dim), in the shape the
        batched products read (a reshape inside the graph would copy them, every layer,
        every step) -> output (B, units), the token's key and value (B, heads, 1, head_dim).
        """
        k, v = self._heads(F, self.key(x)), self._heads(F, self.value(x))
        own = (F.reshape(k, shape=(-3, 0, 0)), F.reshape(v, shape=(-3, 0, 0)))
        context = attend_one(F, self._queries(F, x), k_cache, v_cache, mask, self.num_heads,
                             own=own, native=self.native_decode)
        return self._output(F, context), k, v

    def memory_heads(self, F, memory):
        """Encoder output (B, S, units) -> keys, values (B, heads, S, head_dim) for
        :meth:`cross_step`."""
        def split(y):
            return F.transpose(F.reshape(y, shape=(0, 0, self.num_heads, self.head_dim)),
                               axes=(0, 2, 1, 3))
        return split(self.key(memory)), split(self.value(memory))

    def cross_step(self, F, x, mask, k_memory, v_memory):
        """x (B, units); mask (B, 1, 1, S) additive; k_memory, v_memory (B * heads, S,
        head_dim) -> (B, units)."""
        return self._output(F, attend_one(F, self._queries(F, x), k_memory, v_memory, mask,
                                          self.num_heads, native=self.native_decode))


# --------------------------------------------------------------------------------- masks

def padding_mask(F, queries, keys, valid_length, num_heads):
    """Additive mask hiding padding keys: queries (Lq, B, C) and keys (Lk, B, C) time-major
    (only their shapes are read); valid_length (B,) of the keys -> (B*heads, Lq, Lk).

    Built once per forward in the scores' full shape, so that every layer adds it
    elementwise; BlockGrad: no gradient flows into it.
    """
    positions = F.reshape(F.contrib.arange_like(keys, axis=0), shape=(1, -1))           # (1, Lk)
    hidden = F.broadcast_greater_equal(
        positions, F.reshape(F.cast(valid_length, "float32"), shape=(-1, 1)))         # (B, Lk)
    mask = F.reshape(hidden * MASKED_SCORE, shape=(0, 1, 1, -1))                       # (B,1,1,Lk)
    mask = F.broadcast_axis(mask, axis=1, size=num_heads)                             # (B,H,1,Lk)
    mask = F.broadcast_like(mask, queries, lhs_axes=(2,), rhs_axes=(0,))              # (B,H,Lq,Lk)
    return F.BlockGrad(F.reshape(mask, shape=(-3, 0, 0)))


def causal_padding_mask(F, x, valid_length, num_heads):
    """Additive mask of a right-padded decoder input x (T, B, C) time-major: query ``i``
    sees key ``j`` when ``j <= i`` and ``j < valid_length`` (None: no padding) ->
    (B*heads, T, T)."""
    steps = F.contrib.arange_like(x, axis=0)
    keys = F.reshape(steps, shape=(1, 1, -1))
    hidden = F.broadcast_greater(keys, F.reshape(steps, shape=(1, -1, 1)))             # (1, T, T)
    if valid_length is not None:
        padding = F.broadcast_greater_equal(
            keys, F.reshape(F.cast(valid_length, "float32"), shape=(-1, 1, 1)))       # (B, 1, T)
        hidden = F.broadcast_maximum(hidden, padding)
    else:
        hidden = F.broadcast_like(hidden, x, lhs_axes=(0,), rhs_axes=(1,))
    mask = F.broadcast_axis(F.expand_dims(hidden * MASKED_SCORE, axis=1), axis=1, size=num_heads)
    return F.BlockGrad(F.reshape(mask, shape=(-3, 0, 0)))


# ---------------------------------------------------------------------------- the model

@tied("encoder.embed_tokens", "word_embed")
@tied("decoder.embed_tokens", "word_embed")
@tied("lm_head.weight", "word_embed.weight", when="tie_word_embeddings")
class EncoderDecoderModel(HybridBlock):
    """An encoder, a decoder and (``use_lm=True``) an LM head around one word embedding.

    ``word_embed`` is the canonical side of three ties: the embedding tables of both stacks
    (always) and the LM head (when ``config.tie_word_embeddings``). A checkpoint therefore
    stores one vocabulary-sized matrix when tied, two when not, and every variant (with or
    without head, encoder alone) loads every other's file without aliases: they all name the
    table ``word_embed.weight``.

    A family subclasses this with ``encoder_class`` and ``decoder_class`` (blocks built
    from the config; the encoder maps ``(src, valid_length)`` to its output ``(S, B,
    units)`` time-major, the decoder ``(tgt, valid_length, memory, memory_valid_length)``
    to ``(T, B, units)`` and has ``step(F, tokens, step_input, self_mask, cross_mask,
    cache, memory)`` and ``step_input(step, slots)``), ``embedding_initializer(config)``,
    ``lm_head_bias`` and ``lm_head_initializer(config)``, and may override
    :meth:`lm_input` (T5 v1.0 scales the decoder output before the head).

    Forward contract (API.md): ``enc_seq, dec_seq = model(src, src_valid_length, tgt,
    tgt_valid_length)``, ``tgt`` the decoder inputs (start token first), right padding;
    ``use_lm=True`` appends ``lm_scores`` (B, T, vocab_size); ``encoder_only=True`` builds
    the encoder alone: ``enc_seq = model(src, src_valid_length)``.
    """

    encoder_class = decoder_class = None
    lm_head_bias = False

    def __init__(self, config, *, use_lm=False, encoder_only=False):
        super().__init__()
        if use_lm and encoder_only:
            raise ValueError(f"{type(self).__name__}: an encoder-only model has no decoder to "
                             f"put an LM head on (use_lm=True with encoder_only=True)")
        c = self.config = config
        self.encoder_only = bool(encoder_only)
        self.word_embed = nn.Embedding(c.vocab_size, c.units,
                                       weight_initializer=self.embedding_initializer(c))
        self.encoder = self.encoder_class(c)
        if not self.encoder_only:
            self.decoder = self.decoder_class(c)
        if use_lm:
            self.lm_head = nn.Dense(c.vocab_size, in_units=c.units, use_bias=self.lm_head_bias,
                                    flatten=False, bias_initializer="zeros",
                                    weight_initializer=self.lm_head_initializer(c))

    @staticmethod
    def embedding_initializer(config):
        raise NotImplementedError

    @staticmethod
    def lm_head_initializer(config):
        raise NotImplementedError

    def lm_input(self, F, seq):
        """The decoder output as the LM head reads it (a family may rescale it)."""
        return seq

    def lm_scores(self, F, seq, like):
        """Decoder output (..., units) -> next-token scores (..., vocab_size): the LM head's,
        or in a head-less tied model the word embedding's (without a head bias)."""
        seq = self.lm_input(F, seq)
        head = getattr(self, "lm_head", None)
        if head is not None:
            return head(seq)
        if not self.config.tie_word_embeddings:
            raise ValueError(f"this {self.config.family} model has an untied LM head but was "
                             f"built without it; build it with use_lm=True to score or generate")
        return F.FullyConnected(seq, param_value(F, self.word_embed.weight, like), no_bias=True,
                                num_hidden=self.config.vocab_size, flatten=False)

    def hybrid_forward(self, F, src, src_valid_length=None, tgt=None, tgt_valid_length=None):
        memory = self.encoder(src, src_valid_length)
        enc_seq = F.transpose(memory, axes=(1, 0, 2))
        if self.encoder_only:
            if tgt is not None:
                raise ValueError("an encoder-only model takes (src, src_valid_length) only")
            return enc_seq
        if tgt is None:
            raise ValueError(f"{type(self).__name__} takes (src, src_valid_length, tgt, "
                             f"tgt_valid_length); tgt (the decoder inputs) is missing")
        dec_seq = F.transpose(self.decoder(tgt, tgt_valid_length, memory, src_valid_length),
                              axes=(1, 0, 2))
        if getattr(self, "lm_head", None) is None:
            return enc_seq, dec_seq
        return enc_seq, dec_seq, self.lm_scores(F, dec_seq, src)

    # ----------------------------------------------------------- incremental decoding
    @property
    def decoder_cache_shape(self):
        c = self.config
        return c.num_heads, c.head_dim, c.decoder_layers

    def decoding_session(self, sources, max_new_tokens, ctx=None):
        """The incremental decoder :func:`zoo.generate` drives (see zoo/generation.py)."""
        if self.encoder_only:
            raise GenerationError(f"this {self.config.family} model was built with "
                                  f"encoder_only=True: it has no decoder to generate with")
        return EncoderDecoderSession(self, sources, max_new_tokens, ctx=ctx)


# ----------------------------------------------------------------- incremental decoding

class _MemoryGraph(HybridBlock):
    """src (B, S), valid_length (B,) -> the encoder's keys and values for every decoder
    layer's cross-attention, (2 * layers, B, heads, S, head_dim). It holds the encoder and those
    attention blocks only (their key and value projections are what it uses of them)."""

    def __init__(self, model):
        super().__init__()
        self.encoder = model.encoder
        self.cross_attention = nn.HybridSequential()
        for layer in model.decoder.layers:
            self.cross_attention.add(layer.cross_attention)

    def hybrid_forward(self, F, src, valid_length):
        memory = F.transpose(self.encoder(src, valid_length), axes=(1, 0, 2))
        out = []
        for attention in self.cross_attention:
            out.extend(attention.memory_heads(F, memory))
        return F.stack(*out)


class _StepGraph(HybridBlock):
    """tokens (B, 1), the decoder's step input, self mask (B, 1, 1, T + 1), cross mask
    (B, 1, 1, S), then self keys, values (B * heads, T, head_dim) and cross keys, values
    (B * heads, S, head_dim) of every layer -> scores (B, vocab), the token's keys and
    values of every layer (2 * layers, B, heads, 1, head_dim). It holds the decoder and the
    LM head (the model scores through them; it is not a child of the graph)."""

    def __init__(self, model):
        super().__init__()
        object.__setattr__(self, "_model", model)
        self.decoder = model.decoder
        if getattr(model, "lm_head", None) is not None:
            self.lm_head = model.lm_head

    def hybrid_forward(self, F, tokens, step_input, self_mask, cross_mask, *state):
        layers = len(self.decoder.layers)
        x, new = self.decoder.step(F, tokens, step_input, self_mask, cross_mask,
                                   state[:2 * layers], state[2 * layers:])
        return self._model.lm_scores(F, x, tokens), F.stack(*new)


class _Graphs:
    """The two graphs of a model, hybridized. Each uses part of what it holds: the memory
    graph the cross-attention key and value projections (not its query and output ones),
    the step graph the rest (the keys and values come from the session). MXNet warns about
    the parameters a graph holds but does not use when it builds the graph; those warnings
    say nothing here, so they are silenced for these two graphs only."""

    def __init__(self, model):
        self.config = model.config
        use_native_attention(model)
        self._memory, self._step = _MemoryGraph(model), _StepGraph(model)
        self._memory.hybridize(static_alloc=True)
        self._step.hybridize(static_alloc=True, static_shape=True)

    @staticmethod
    def _run(graph, *args):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Parameter .* is not used by any "
                                                      "computation")
            return graph(*args)

    def memory(self, *args):
        return self._run(self._memory, *args)

    def step(self, *args):
        return self._run(self._step, *args)


class EncoderDecoderSession:
    """Incremental decoding of a batch of source sequences by an encoder-decoder model (the
    protocol is documented at the top of zoo/generation.py).

    The model is an :class:`EncoderDecoderModel`: its ``encoder``, its ``decoder`` (whose
    layers' ``cross_attention`` turn the encoder output into keys and values once, and
    whose ``step`` and ``step_input`` decode one token per row), ``lm_scores``,
    ``decoder_cache_shape`` and the limits ``source_limit`` / ``target_limit`` (None: no
    limit).

    The encoder runs once (:meth:`start`); its keys and values stay in the session. The
    decoder's self-attention cache is allocated once at its final size, so every step has
    the same shapes: slot ``s`` holds the token fed at step ``s`` (step 0: the decoder
    start token), and every row is at the same step.
    """

    def __init__(self, model, sources, max_new_tokens, ctx=None):
        source_limit, target_limit = model.source_limit, model.target_limit
        for i, src in enumerate(sources):
            if not src:
                raise GenerationError(f"source {i} is empty; give at least one token (e.g. the "
                                      f"end-of-sequence id)")
            if source_limit is not None and len(src) > source_limit:
                raise GenerationError(f"source {i} has {len(src)} tokens, more than the "
                                      f"{source_limit} positions of the encoder; shorten it")
        if target_limit is not None and max_new_tokens > target_limit:
            raise GenerationError(f"max_new_tokens={max_new_tokens} exceeds the {target_limit} "
                                  f"positions of the decoder; lower it to at most {target_limit}")
        self.model = model
        self.ctx = ctx or model.word_embed.weight.list_ctx()[0]
        self.sources = [list(s) for s in sources]
        # the start token and every generated token but the last are fed back
        self.slots = max_new_tokens
        self.graphs = cached_graphs(model, _Graphs)
        self.steps = 0

    def _array(self, a, dtype="float32"):
        return mx.nd.array(a, ctx=self.ctx, dtype=dtype)

    def start(self):
        """Run the encoder, then feed the decoder start token; -> scores (B, vocab_size)."""
        B = len(self.sources)
        lengths = np.array([len(s) for s in self.sources], dtype=np.int64)
        S = int(lengths.max())
        ids = np.zeros((B, S), dtype=np.float32)
        for b, src in enumerate(self.sources):
            ids[b, :len(src)] = src
        # a copy: a static graph may reuse its output buffer at its next call
        self.memory = self.graphs.memory(self._array(ids), self._array(lengths)).copy()
        self.memory_views = layer_views(self.memory)
        mask = np.where(np.arange(S)[None, :] < lengths[:, None], 0.0, MASKED_SCORE)
        self.cross_mask = self._array(mask.reshape(B, 1, 1, S))
        heads, head_dim, layers = self.model.decoder_cache_shape
        self.cache = mx.nd.zeros((2 * layers, B, heads, self.slots, head_dim), ctx=self.ctx)
        self.cache_views = layer_views(self.cache)
        self._spare_cache = self._spare_memory = None
        # every slot hidden until written; the last column is the fed token itself
        mask = np.full((1, 1, 1, self.slots + 1), MASKED_SCORE, dtype=np.float32)
        mask[..., -1] = 0.0
        self.self_mask = self._array(np.repeat(mask, B, axis=0))
        self.memory_rows = np.arange(B)           # which source's memory each row holds
        start = self.model.config.decoder_start_token_id
        return self._feed(np.full(B, start))

    def _feed(self, tokens):
        slot = self.steps
        if slot >= self.slots:
            raise GenerationError(f"this session was sized for {self.slots} fed tokens; start "
                                  f"a new one for more")
        tokens = self._array(np.asarray(tokens, dtype=np.float32).reshape(-1, 1))
        step_input = self._array(self.model.decoder.step_input(slot, self.slots))
        scores, new = self.graphs.step(tokens, step_input, self.self_mask, self.cross_mask,
                                       *self.cache_views, *self.memory_views)
        self.cache[:, :, :, slot:slot + 1, :] = new
        self.self_mask[:, :, :, slot:slot + 1] = 0.0
        self.steps += 1
        return scores

    def step(self, tokens):
        """Feed one token per row (a sequence of ints); -> next-token scores (rows, vocab)."""
        return self._feed(tokens)

    def reorder(self, rows):
        """Keep the rows ``rows`` (indices into the current rows, repeats allowed: beams)."""
        rows = np.asarray(rows, dtype=np.int64)
        index = self._array(rows, dtype="int64")
        self.cache, self._spare_cache = take_rows(self.cache, index, self._spare_cache), \
            self.cache
        self.cache_views = layer_views(self.cache)
        self.self_mask = mx.nd.take(self.self_mask, index, axis=0)
        memory_rows = self.memory_rows[rows]
        # Beams of one source share its encoder memory: while the rows still map to the same
        # sources in the same order (a beam step that only reorders within each source),
        # the memory stays where it is instead of being copied every step.
        if not np.array_equal(memory_rows, self.memory_rows):
            self.memory, self._spare_memory = take_rows(self.memory, index,
                                                         self._spare_memory), self.memory
            self.memory_views = layer_views(self.memory)
            self.cross_mask = mx.nd.take(self.cross_mask, index, axis=0)
            self.memory_rows = memory_rows
