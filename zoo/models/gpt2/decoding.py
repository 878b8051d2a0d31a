"""GPT-2's incremental decoder: the session :func:`zoo.generate` drives (the protocol is
documented at the top of zoo/generation.py).

Two hybridized graphs share the model's parameters:

* the prompt graph runs the right-padded prompts through :meth:`GPT2Model.decode` once and
  returns the next-token scores at each prompt's last token plus every layer's keys and
  values;
* the step graph feeds one token per row: its embedding at the row's own position, each
  layer attending to the cache (an input) and to itself, and returns the scores and the
  token's keys and values, which the session writes into the cache.

The cache is one array allocated once per session at its final size, ``(2 * layers, rows,
heads, T, head_dim)`` (keys and values of every layer), so every step has the same shapes
(one static graph); each layer reads its keys and values through views of it, and the new
ones of a step land in it with one slice assignment.
Slot ``t < P`` (the longest prompt) holds prompt token ``t``; the token fed at step ``s``
goes to slot ``P + s`` in every row. A shorter prompt leaves slots between its length and
``P`` empty and masked, while its generated tokens still take positions ``len + s``: GPT-2's
attention depends on positions only through the embeddings, so each row computes what it
would alone, with no left padding.
"""
import numpy as np

import mxnet as mx
from mxnet.gluon import HybridBlock

from heads._layers import gather_positions

from ...decoding import cached_graphs, layer_views, take_rows, use_native_attention
from ...generation import GenerationError
from .layers import MASKED_SCORE, parameter_value

__all__ = ["GPT2DecodingSession"]


class _PromptGraph(HybridBlock):
    """inputs (B, P), valid_length (B,) -> scores (B, vocab) after each prompt's last token,
    keys and values of every layer (2 * layers, B, heads, P, head_dim)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def hybrid_forward(self, F, inputs, valid_length):
        m = self.model
        seq, cache = m.decode(F, inputs, valid_length, with_cache=True)
        last = gather_positions(F, seq, F.reshape(valid_length - 1, shape=(-1, 1)))
        last = F.reshape(last, shape=(-1, m.config.units))
        scores = m.lm_scores(F, last, parameter_value(F, m.lm_parameter(), inputs))
        return scores, F.stack(*cache)


class _StepGraph(HybridBlock):
    """tokens, positions (B, 1); key_mask (B, 1, 1, T + 1); keys and values of every layer
    (B * heads, T, head_dim) -> scores (B, vocab), the new keys and values of every layer
    (2 * layers, B, heads, 1, head_dim)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def hybrid_forward(self, F, tokens, positions, key_mask, *cache):
        m = self.model
        x = F.reshape(m.embed(F, tokens, positions), shape=(-1, m.config.units))
        new = []
        for i, layer in enumerate(m.layers):
            x, k, v = layer.step(F, x, key_mask, cache[2 * i], cache[2 * i + 1])
            new += [k, v]
        weight = parameter_value(F, m.lm_parameter(), tokens)
        scores = m.lm_scores(F, m.final_layer_norm(x), weight)
        return scores, F.stack(*new)


class _Graphs:
    """The model's two decoding graphs, hybridized, and the config they were built for."""

    def __init__(self, model):
        self.config = model.config
        use_native_attention(model)
        self.prompt, self.step = _PromptGraph(model), _StepGraph(model)
        self.prompt.hybridize(static_alloc=True)
        self.step.hybridize(static_alloc=True, static_shape=True)


class GPT2DecodingSession:
    """Incremental decoding of a batch of prompts (lists of token ids) by a GPT-2 model."""

    def __init__(self, model, prompts, max_new_tokens, ctx=None):
        limit = model.config.max_positions
        for i, prompt in enumerate(prompts):
            if not prompt:
                raise GenerationError(f"prompt {i} is empty; a GPT-2 prompt needs at least one "
                                      f"token (e.g. the <|endoftext|> id)")
            if len(prompt) > limit:
                raise GenerationError(f"prompt {i} has {len(prompt)} tokens, more than the "
                                      f"{limit} positions of the model; shorten it")
            if len(prompt) + max_new_tokens > limit:
                raise GenerationError(
                    f"prompt {i} ({len(prompt)} tokens) + max_new_tokens={max_new_tokens} "
                    f"exceeds the {limit} positions of the model; lower max_new_tokens to at "
                    f"most {limit - len(prompt)}")
        self.model = model
        self.ctx = ctx or model.word_embed.weight.list_ctx()[0]
        self.prompts = [list(p) for p in prompts]
        self.lengths = np.array([len(p) for p in self.prompts], dtype=np.int64)
        self.prompt_slots = int(self.lengths.max())
        # the last generated token is never fed back, so it needs no slot
        self.slots = self.prompt_slots + max(max_new_tokens - 1, 0)
        graphs = cached_graphs(model, _Graphs)
        self.prompt_graph, self.step_graph = graphs.prompt, graphs.step
        self.steps = 0
        self._spare = None        # the cache's other buffer (see reorder)

    def start(self):
        """Run the prompts; -> next-token scores (B, vocab_size), an NDArray."""
        B, P, T = len(self.prompts), self.prompt_slots, self.slots
        ids = np.zeros((B, P), dtype=np.float32)
        for b, prompt in enumerate(self.prompts):
            ids[b, :len(prompt)] = prompt
        lengths = mx.nd.array(self.lengths, ctx=self.ctx)
        scores, prompt_cache = self.prompt_graph(mx.nd.array(ids, ctx=self.ctx), lengths)
        # a copy in any case: a static graph may reuse its output buffers at the next call
        self.cache = mx.nd.zeros(prompt_cache.shape[:3] + (T,) + prompt_cache.shape[4:],
                                 ctx=self.ctx)
        self.cache[:, :, :, :P, :] = prompt_cache
        self.layer_views = layer_views(self.cache)
        # slots [0, length) hold the prompt; the last column is the fed token itself
        mask = np.where(np.arange(T + 1)[None, :] < self.lengths[:, None], 0.0, MASKED_SCORE)
        mask[:, T] = 0.0
        self.key_mask = mx.nd.array(mask.reshape(B, 1, 1, T + 1), ctx=self.ctx)
        self.positions = mx.nd.array(self.lengths.reshape(B, 1), ctx=self.ctx)
        return scores

    def step(self, tokens):
        """Feed one token per row (a sequence of ints); -> next-token scores (rows, vocab)."""
        slot = self.prompt_slots + self.steps
        if slot >= self.slots:
            raise GenerationError(f"this session was sized for {self.slots - self.prompt_slots} "
                                  f"fed tokens; start a new one for more")
        tokens = mx.nd.array(np.asarray(tokens, dtype=np.float32).reshape(-1, 1), ctx=self.ctx)
        scores, new = self.step_graph(tokens, self.positions, self.key_mask, *self.layer_views)
        self.cache[:, :, :, slot:slot + 1, :] = new
        self.key_mask[:, :, :, slot:slot + 1] = 0.0
        self.positions += 1
        self.steps += 1
        return scores

    def reorder(self, rows):
        """Keep the rows ``rows`` (indices into the current rows, repeats allowed: beams)."""
        index = mx.nd.array(np.asarray(rows, dtype=np.int64), ctx=self.ctx, dtype="int64")
        self.cache, self._spare = take_rows(self.cache, index, self._spare), self.cache
        self.layer_views = layer_views(self.cache)
        self.key_mask = mx.nd.take(self.key_mask, index, axis=0)
        self.positions = mx.nd.take(self.positions, index, axis=0)
