"""Text generation for every family that decodes incrementally: :func:`generate` (greedy,
sampling, beam search) and :func:`stream` (one prompt, token by token).

The incremental-decoding protocol
---------------------------------
The search code below knows nothing of a family. A model it can drive has one method::

    session = model.decoding_session(prompts, max_new_tokens, ctx=None)

``prompts`` is a list of token-id lists: a decoder-only model's prompts, or an
encoder-decoder's source sequences. It raises :class:`GenerationError` (one line naming the
prompt and the limit) when a prompt or ``max_new_tokens`` does not fit the model's positions,
and returns a session with three methods::

    scores = session.start()        # (B, vocab_size) NDArray: next-token scores per prompt.
                                    #   Decoder-only: the prompt runs once, filling the cache.
                                    #   Encoder-decoder: the encoder runs once (its output, or
                                    #   the cross-attention keys and values, kept in the
                                    #   session), then the decoder reads its start token.
    scores = session.step(tokens)   # one token id per row (rows ints) -> (rows, vocab_size):
                                    #   each row's token goes through the decoder with its
                                    #   self-attention cache, which then holds it too.
    session.reorder(rows)           # keep these rows, in this order; repeats allowed. Beam
                                    #   search expands B rows to B * num_beams this way and
                                    #   follows the surviving beams every step; finished
                                    #   rows are dropped. Every per-row state (caches, the
                                    #   encoder output, positions, masks) follows.

Scores are raw float32 logits. A session is sized once (``max_new_tokens`` fixes the cache),
so a family can keep shapes static across steps and hybridize its step graph.

The searches reproduce Hugging Face's ``generate`` (``early_stopping=False``):

* greedy: the highest score, the first on ties; a row that produced ``eos_id`` stops;
* sampling: temperature, then top-k (ties at the k-th score kept), then top-p (nucleus,
  at least one token kept) as Hugging Face's logits warpers do, then one draw per row from
  a numpy generator seeded with ``seed``. ``top_k=1`` therefore equals greedy;
* beam search: each step keeps the ``2 * num_beams`` best continuations of all beams by
  summed log-probability; those ending in ``eos_id`` among the first ``num_beams`` become
  finished hypotheses scored ``sum / length ** length_penalty`` (length = new tokens,
  eos included), the best ``num_beams`` non-finished continue; a prompt is done when no
  running beam can beat its worst kept hypothesis (``best running sum / current length **
  length_penalty``), or at ``max_new_tokens``, where every running beam is a hypothesis.
  The result is the best hypothesis.

GluonNLP 0.10's samplers are not used. ``BeamSearchSampler`` (driven by this session's
step graph) ranks live beams by GNMT's length-normalized score and keeps finished beams in
their beam slots, where Hugging Face ranks running beams by raw sums and keeps finished
hypotheses apart: on tiny random GPT-2s (6 seeds x 3 prompts x 2 and 4 beams, 12 new
tokens) it gave transformers' ids in 36/36 cases without an end token or without a length
penalty, but in 33/36 with ``eos_id`` and ``length_penalty=1`` (the default) and 6/36 with
``length_penalty=2``; it also needs an ``eos_id`` and appends one at the length limit.
``SequenceSampler`` has no top-p and samples with MXNet's global generator.
"""
import numpy as np

import mxnet as mx

__all__ = ["generate", "stream", "GenerationError"]

# Hugging Face's "minus infinity" for scores in beam search (a float32 constant).
_NEG = np.float32(-1.0e9)


class GenerationError(ValueError):
    """Arguments :func:`generate` cannot work with; the message names the value."""


# --------------------------------------------------------------------------- arguments

def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_prompts(prompts, vocab_size):
    if isinstance(prompts, (str, bytes)) or not hasattr(prompts, "__len__"):
        raise GenerationError(f"prompts must be a list of token-id lists, got "
                              f"{type(prompts).__name__}")
    if len(prompts) == 0:
        raise GenerationError("prompts is empty; give at least one token-id list")
    out = []
    for i, prompt in enumerate(prompts):
        if _is_int(prompt):
            raise GenerationError("prompts must be a list of token-id lists, not one list of "
                                  "ids; wrap a single prompt: [ids]")
        ids = []
        for j, t in enumerate(prompt):
            if not _is_int(t):
                raise GenerationError(f"prompt {i}, position {j}: {t!r} is not a token id")
            if not 0 <= int(t) < vocab_size:
                raise GenerationError(f"prompt {i}, position {j}: token id {int(t)} is not in "
                                      f"the model's vocabulary of {vocab_size} (ids 0 to "
                                      f"{vocab_size - 1})")
            ids.append(int(t))
        out.append(ids)
    return out


def _check_options(vocab_size, max_new_tokens, num_beams, do_sample, temperature, top_k,
                   top_p, length_penalty, eos_id):
    if not _is_int(max_new_tokens) or max_new_tokens < 1:
        raise GenerationError(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
    if not _is_int(num_beams) or num_beams < 1:
        raise GenerationError(f"num_beams must be an int >= 1, got {num_beams!r}")
    if do_sample and num_beams > 1:
        raise GenerationError("do_sample=True with num_beams > 1 (beam sampling) is not "
                              "supported; sample with num_beams=1 or search without sampling")
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise GenerationError(f"temperature must be > 0, got {temperature!r}")
    if not _is_int(top_k) or top_k < 0:
        raise GenerationError(f"top_k must be an int >= 0 (0: off), got {top_k!r}")
    if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise GenerationError(f"top_p must be in (0, 1], got {top_p!r}")
    if not isinstance(length_penalty, (int, float)):
        raise GenerationError(f"length_penalty must be a number, got {length_penalty!r}")
    if eos_id is not None and (not _is_int(eos_id) or not 0 <= eos_id < vocab_size):
        raise GenerationError(f"eos_id {eos_id!r} is not a token id of the model's vocabulary "
                              f"of {vocab_size} (ids 0 to {vocab_size - 1})")


def _session(model, prompts, max_new_tokens, ctx):
    start = getattr(model, "decoding_session", None)
    if start is None:
        raise GenerationError(f"{type(model).__name__} cannot generate: it has no incremental "
                              f"decoder (decoder-only and encoder-decoder families have one)")
    return start(prompts, max_new_tokens, ctx=ctx)


# ---------------------------------------------------------------- greedy and sampling

def _warp(scores, temperature, top_k, top_p):
    """Hugging Face's temperature, top-k and top-p warpers, in that order, on a numpy
    (rows, vocab) float32 array; removed tokens get -inf."""
    scores = scores / np.float32(temperature) if temperature != 1.0 else scores.copy()
    vocab = scores.shape[1]
    if 0 < top_k < vocab:
        kth = np.partition(scores, vocab - top_k, axis=1)[:, vocab - top_k][:, None]
        scores[scores < kth] = -np.inf
    if top_p < 1.0:
        order = np.argsort(scores, axis=1, kind="stable")             # ascending
        ranked = np.take_along_axis(scores, order, axis=1)
        probs = np.exp(ranked - ranked[:, -1:])
        cumulative = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
        remove = cumulative <= 1.0 - top_p
        remove[:, -1] = False                                         # keep at least one
        rows = np.nonzero(remove)
        scores[rows[0], order[rows]] = -np.inf
    return scores


def _draw(scores, rng):
    """One token per row of warped scores (numpy), by inverse CDF with ``rng``."""
    probs = np.exp(scores.astype(np.float64) - scores.max(axis=1, keepdims=True))
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(scores.shape[0])[:, None] * cumulative[:, -1:]
    return np.minimum((cumulative <= u).sum(axis=1), scores.shape[1] - 1)


def _pick(scores, do_sample, temperature, top_k, top_p, rng):
    """Next token per row from an NDArray of scores (rows, vocab)."""
    if not do_sample:
        return mx.nd.argmax(scores, axis=1).asnumpy().astype(np.int64)
    return _draw(_warp(scores.asnumpy(), temperature, top_k, top_p), rng)


def _one_at_a_time(session, batch, max_new_tokens, eos_id, choose):
    """Greedy or sampling: yields ``[(prompt index, token), ...]`` per step; rows that
    produced ``eos_id`` leave the session."""
    active = list(range(batch))
    scores = session.start()
    for step in range(max_new_tokens):
        tokens = choose(scores)
        yield list(zip(active, (int(t) for t in tokens)))
        if step + 1 == max_new_tokens:
            return
        keep = [r for r, t in enumerate(tokens) if eos_id is None or t != eos_id]
        if not keep:
            return
        if len(keep) < len(active):
            session.reorder(keep)
            active = [active[r] for r in keep]
            tokens = tokens[keep]
        scores = session.step(tokens)


# ------------------------------------------------------------------------ beam search

def _beam_search(session, batch, max_new_tokens, num_beams, length_penalty, eos_id):
    """Hugging Face's beam search (see the module docstring) -> the best sequence per prompt."""
    nb, keep = num_beams, 2 * num_beams
    results = [None] * batch
    items = np.arange(batch)                        # prompt of each active item
    running = np.full((batch, nb), _NEG, dtype=np.float32)
    running[:, 0] = 0.0
    running_tokens = np.zeros((batch, nb, 0), dtype=np.int64)
    finished = np.full((batch, nb), _NEG, dtype=np.float32)
    finished_tokens = [[[] for _ in range(nb)] for _ in range(batch)]
    is_finished = np.zeros((batch, nb), dtype=bool)
    improvable = np.ones(batch, dtype=bool)
    scores = session.start()
    rows_are_beams = False                          # the session has one row per prompt first
    for step in range(max_new_tokens):
        n, vocab = len(items), scores.shape[1]
        log_probs = mx.nd.log_softmax(scores, axis=-1).reshape((n, -1, vocab))
        total = mx.nd.broadcast_add(log_probs, mx.nd.array(running[:, :, None], ctx=scores.context))
        values, index = mx.nd.topk(total.reshape((n, -1)), axis=1, k=keep, ret_typ="both",
                                   dtype="int64")
        values, index = values.asnumpy(), index.asnumpy()
        beam, token = index // vocab, index % vocab
        tokens = np.concatenate([np.take_along_axis(running_tokens, beam[:, :, None], axis=1),
                                 token[:, :, None]], axis=2)          # (n, keep, step + 1)
        hits = np.zeros((n, keep), dtype=bool) if eos_id is None else token == eos_id
        if step + 1 == max_new_tokens:
            hits[:] = True
        # the best num_beams continuations that did not stop run on
        alive = values + hits.astype(np.float32) * _NEG
        order = np.argsort(-alive, axis=1, kind="stable")[:, :nb]
        running = np.take_along_axis(alive, order, axis=1)
        running_tokens = np.take_along_axis(tokens, order[:, :, None], axis=1)
        source = np.take_along_axis(beam, order, axis=1)
        # stopped ones among the first num_beams become hypotheses if they beat the kept ones
        candidate = values / np.float32(float(step + 1) ** length_penalty)
        candidate = candidate + (~improvable[:, None]).astype(np.float32) * _NEG
        new = hits & (np.arange(keep) < nb)[None, :]
        candidate = candidate + (~new).astype(np.float32) * _NEG
        merged = np.concatenate([finished, candidate], axis=1)
        best = np.argsort(-merged, axis=1, kind="stable")[:, :nb]
        merged_tokens = [finished_tokens[a] + [list(tokens[a, j]) for j in range(keep)]
                         for a in range(n)]
        finished_tokens = [[merged_tokens[a][j] for j in best[a]] for a in range(n)]
        is_finished = np.take_along_axis(np.concatenate([is_finished, new], axis=1), best, axis=1)
        finished = np.take_along_axis(merged, best, axis=1)
        # can a running beam still beat the worst kept hypothesis?
        best_possible = running[:, :1] / np.float32(float(step + 1) ** length_penalty)
        worst = np.where(is_finished, finished.min(axis=1, keepdims=True), _NEG)
        improvable &= (best_possible > worst).any(axis=1)
        if step + 1 == max_new_tokens or not improvable.any():
            break
        for a in np.nonzero(~improvable)[0]:
            results[items[a]] = finished_tokens[a][0]
        go = np.nonzero(improvable)[0]
        # session rows of the beams that run on: one row per prompt before the first step
        rows = go[:, None] * nb + source[go] if rows_are_beams else np.repeat(go[:, None], nb, 1)
        session.reorder(rows.reshape(-1))
        rows_are_beams = True
        items, running, running_tokens = items[go], running[go], running_tokens[go]
        finished, is_finished, improvable = finished[go], is_finished[go], improvable[go]
        finished_tokens = [finished_tokens[a] for a in go]
        scores = session.step(running_tokens[:, :, -1].reshape(-1))
    for a, item in enumerate(items):
        if results[item] is None:
            results[item] = finished_tokens[a][0]
    return [[int(t) for t in r] for r in results]


# ---------------------------------------------------------------------------- public

def generate(model, prompts, *, max_new_tokens, num_beams=1, do_sample=False, temperature=1.0,
             top_k=0, top_p=1.0, length_penalty=1.0, eos_id=None, seed=None, ctx=None):
    """New token ids for each prompt (a list of token-id lists of any lengths; for an
    encoder-decoder, the source sequences): the continuation only, ending with ``eos_id``
    when the model produced it. See the module docstring for the searches; they give the
    token ids of Hugging Face's ``generate`` with the same settings (``early_stopping=False``).

    A batch gives what each prompt gives alone. ``seed`` makes sampling reproducible.
    Raises :class:`GenerationError` for arguments it cannot use (a prompt longer than the
    model's positions, ``max_new_tokens`` overflowing them, an unknown token id,
    ``num_beams < 1``, ...).
    """
    vocab_size = model.config.vocab_size
    prompts = _check_prompts(prompts, vocab_size)
    _check_options(vocab_size, max_new_tokens, num_beams, do_sample, temperature, top_k, top_p,
                   length_penalty, eos_id)
    with mx.autograd.pause(train_mode=False):
        session = _session(model, prompts, max_new_tokens, ctx)
        if num_beams > 1:
            return _beam_search(session, len(prompts), max_new_tokens, num_beams,
                                float(length_penalty), eos_id)
        out = [[] for _ in prompts]
        rng = np.random.default_rng(seed)
        for produced in _one_at_a_time(
                session, len(prompts), max_new_tokens, eos_id,
                lambda s: _pick(s, do_sample, temperature, top_k, top_p, rng)):
            for prompt, token in produced:
                out[prompt].append(token)
        return out


def stream(model, prompt, *, max_new_tokens, do_sample=False, temperature=1.0, top_k=0,
           top_p=1.0, eos_id=None, seed=None, ctx=None):
    """Yield the new token ids of one prompt (a token-id list) as they are produced: what
    ``generate(model, [prompt], ...)[0]`` returns, greedy or sampled, one at a time."""
    vocab_size = model.config.vocab_size
    (prompt,) = _check_prompts([prompt], vocab_size)
    _check_options(vocab_size, max_new_tokens, 1, do_sample, temperature, top_k, top_p, 1.0,
                   eos_id)
    rng = np.random.default_rng(seed)
    session = _session(model, [prompt], max_new_tokens, ctx)
    steps = _one_at_a_time(session, 1, max_new_tokens, eos_id,
                           lambda s: _pick(s, do_sample, temperature, top_k, top_p, rng))
    while True:
        with mx.autograd.pause(train_mode=False):   # each step runs here, when asked for
            produced = next(steps, None)
        if produced is None:
            return
        yield produced[0][1]
