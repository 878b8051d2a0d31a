"""What the families' decoding sessions share (GPT-2's in ``zoo/models/gpt2/decoding.py``,
BART's and T5's in ``zoo/encoder_decoder.py``): the per-model cache of hybridized decoding
graphs, and the layout of a key/value cache that the step graph reads in place.

A cache is one array ``(2 * layers, rows, heads, slots, head_dim)``: every layer's keys
then values. The step graph takes each layer's part as a view ``(rows * heads, slots,
head_dim)``, the shape its batched products read, so that neither the session nor the graph
copies the cache per step.
"""
import mxnet as mx

__all__ = ["cached_graphs", "layer_views", "take_rows"]


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
