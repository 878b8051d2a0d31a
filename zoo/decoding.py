"""What the families' decoding sessions share (GPT-2's in ``zoo/models/gpt2/decoding.py``,
BART's and T5's in ``zoo/encoder_decoder.py``): the per-model cache of hybridized decoding
graphs, and the layout of a key/value cache that the step graph reads in place.

A cache is one array ``(2 * layers, rows, heads, slots, head_dim)``: every layer's keys
then values. The step graph takes each layer's part as a view ``(rows * heads, slots,
head_dim)``, the shape its batched products read, so that neither the session nor the graph
copies the cache per step.

Attention of the one fed token per row and head over such a cache (:func:`attend_one`) runs
tiezoo's native ``tiezoo_decode_attention`` on CPU when it is loaded: MXNet 1.9.1's
``batch_dot`` makes one BLAS call per row and head, ~12x slower here than the read of the
cache that the product is (see ``zoo/native/decode_attention.cc``).
"""
import mxnet as mx

__all__ = ["attend_one", "cached_graphs", "layer_views", "native_attention", "take_rows",
           "use_native_attention"]


def cached_graphs(model, build):
    """``build(model)``'s graphs, built once per model and config (a vocabulary resize
    replaces the config, and the graphs with it). ``build`` returns an object with a
    ``config`` attribute."""
    graphs = model.__dict__.get("_tiezoo_decoding_graphs")
    if graphs is None or graphs.config is not model.config:
        graphs = build(model)
        # not through Block.__setattr__: the graphs must not become children of the model
        model.__dict__["_tiezoo_decoding_graphs"] = graphs
    return graphs


def layer_views(cache):
    """A cache ``(2 * layers, rows, heads, K, head_dim)`` -> each layer's keys and values as
    views ``(rows * heads, K, head_dim)`` (no copies)."""
    n, rows, heads, k, dim = cache.shape
    return [cache[i].reshape((rows * heads, k, dim)) for i in range(n)]


def take_rows(cache, index, spare=None):
    """The cache with rows ``index`` (an int64 NDArray into its second axis), written into
    ``spare`` when that has the shape. Beam search reorders every step, and a fresh array of
    the cache's size costs more in page faults than the copy itself (~8x at 32 x 143
    slots), so a session keeps two buffers that take turns."""
    shape = (cache.shape[0], len(index)) + tuple(cache.shape[2:])
    out = spare if spare is not None and spare.shape == shape else \
        mx.nd.empty(shape, ctx=cache.context)
    for i in range(shape[0]):   # per layer along its first axis: MXNet's take along a later
        mx.nd.take(cache[i], index, axis=0, out=out[i])      # axis is ~20x slower
    return out


def native_attention(model):
    """Whether ``model``'s decoding graphs may use the native attention operator: it is
    loaded and the model lives on CPU."""
    from . import _native
    if not (_native.AVAILABLE and hasattr(mx.sym, "tiezoo_decode_attention")):
        return False
    return all(c.device_type == "cpu" for p in model.collect_params().values()
               for c in p.list_ctx())


def use_native_attention(model):
    """Tell every attention block of ``model`` (those with a ``native_decode`` attribute)
    whether its one-token steps run the native operator; call before the decoding graphs
    are first run (they are hybridized with the choice)."""
    flag = native_attention(model)

    def tell(block):
        if hasattr(block, "native_decode"):
            block.native_decode = flag
    model.apply(tell)
    return flag


def attend_one(F, q, keys, values, mask, heads, own=None, native=False):
    """One query per row and head over cached keys and values.

    q (N, 1, D) scaled queries, N = rows * heads; keys, values (N, T, D); ``own``: the fed
    token's key and value (N, 1, D) each, attended after the T slots; mask (1 or rows,
    1 or heads, 1, T [+ 1]) additive -> context (N, 1, D). ``native``: the native operator
    (CPU; see :func:`native_attention`); otherwise batched products, with the own token
    scored apart so that the cache is never copied.
    """
    if native:
        extra = list(own) if own is not None else []
        return F.tiezoo_decode_attention(q, keys, values, *extra, mask, heads=heads,
                                         own=int(own is not None))
    scores = F.batch_dot(q, keys, transpose_b=True)                          # (N, 1, T)
    if own is not None:
        scores = F.concat(scores, F.batch_dot(q, own[0], transpose_b=True), dim=2)
    scores = F.broadcast_add(F.reshape(scores, shape=(-4, -1, heads, 0, 0)), mask)
    probs = F.reshape(F.softmax(scores, axis=-1), shape=(-3, 0, 0))          # (N, 1, K)
    if own is None:
        return F.batch_dot(probs, values)
    return F.batch_dot(F.slice_axis(probs, axis=2, begin=0, end=-1), values) + \
        F.batch_dot(F.slice_axis(probs, axis=2, begin=-1, end=None), own[1])
