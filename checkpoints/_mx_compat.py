"""Every piece of MXNet-version-specific plumbing the checkpoint layer needs, in one place.

MXNet 1.9.1 keeps a Block's parameters in three places that must agree: the attribute
itself, ``Block._reg_params`` (what ``_collect_params_with_prefix`` and ``hybrid_forward``
read) and the Block's ``ParameterDict`` (what ``collect_params``, ``initialize``,
``gluon.Trainer`` and ``export`` read). ``Block.__setattr__`` refuses to replace a
Parameter, so sharing one after construction has to touch those three directly.
A port to MXNet 2.0 (where ``_reg_params`` and ``ParameterDict`` are gone and
``Block.share_parameters`` accepts structural names) rewrites this module only.

The pieces that are not about parameters, :func:`configure_onednn_isa` and the kvstore's
barrier and release, are here because they too are facts about the MXNet 1.9.1 wheel (the
oneDNN build inside it, private kvstore methods), to revisit in a port.
"""
import ctypes
import os

import mxnet as mx
import numpy as np
from mxnet.gluon import Block, Parameter

__all__ = [
    "Block", "Parameter", "structural_params", "iter_blocks", "replace_parameter", "remove_child",
    "shape_is_known", "merge_shapes", "set_shape", "param_dtype", "is_initialized",
    "numpy_view", "adopt_data", "ensure_initialized", "param_ndarray", "configure_onednn_isa",
    "replace_data", "sync_layer_sizes", "clear_cached_graphs", "kvstore_barrier",
    "release_kvstore",
]


def structural_params(block):
    """``{dotted structural name: Parameter}``, shared Parameters listed under every name."""
    return block._collect_params_with_prefix()


def iter_blocks(block, prefix=""):
    """Yield ``(dotted path, block)`` for ``block`` (path ``""``) and all its descendants."""
    yield prefix, block
    for name, child in block._children.items():
        yield from iter_blocks(child, prefix + "." + name if prefix else name)


def replace_parameter(owner, attr, param):
    """Make ``owner.<attr>`` be ``param`` everywhere MXNet 1.9.1 looks for it."""
    orphan = owner._reg_params[attr]
    if orphan is param:
        return
    owner._reg_params[attr] = param
    object.__setattr__(owner, attr, param)
    own = owner._params._params
    if own.get(orphan.name) is orphan:
        del own[orphan.name]
    own[param.name] = param
    if hasattr(owner, "_clear_cached_op"):
        owner._clear_cached_op()


def remove_child(block, name):
    """Detach the child block ``name`` (a head switched off after construction)."""
    block._children.pop(name, None)
    block.__dict__.pop(name, None)
    if hasattr(block, "_clear_cached_op"):
        block._clear_cached_op()


def shape_is_known(shape):
    return shape is not None and len(shape) > 0 and all(int(d) > 0 for d in shape)


def merge_shapes(a, b):
    """Combine two possibly partial shapes (0 = unknown); None when they conflict."""
    if a is None or len(a) == 0:
        return tuple(b) if b is not None else None
    if b is None or len(b) == 0:
        return tuple(a)
    if len(a) != len(b):
        return None
    out = []
    for x, y in zip(a, b):
        if x > 0 and y > 0 and x != y:
            return None
        out.append(x if x > 0 else y)
    return tuple(out)


def set_shape(param, shape):
    param.shape = tuple(shape)


def param_dtype(param):
    return np.dtype(param.dtype)


def is_initialized(param):
    return param._data is not None


def param_ndarray(param):
    """The Parameter's data on its first context."""
    return param._check_and_get(param._data, list)[0]


def numpy_view(arr):
    """A writable numpy view on the memory of a CPU NDArray (no copy).

    Callers must not let the view outlive ``arr``. Any pending MXNet write to ``arr`` is
    waited for first.
    """
    if arr.context.device_type != "cpu":
        raise ValueError("numpy_view needs a CPU NDArray")
    mx.base.check_call(mx.base._LIB.MXNDArrayWaitToWrite(arr.handle))
    ptr = ctypes.c_void_p()
    mx.base.check_call(mx.base._LIB.MXNDArrayGetData(arr.handle, ctypes.byref(ptr)))
    dtype = np.dtype(arr.dtype)
    nbytes = int(np.prod(arr.shape, dtype=np.int64)) * dtype.itemsize
    if nbytes == 0:
        return np.empty(arr.shape, dtype=dtype)
    buf = (ctypes.c_char * nbytes).from_address(ptr.value)
    return np.frombuffer(buf, dtype=dtype).reshape(arr.shape)


def adopt_data(param, arr):
    """Make the CPU NDArray ``arr`` the Parameter's data without copying it.

    Mirrors ``Parameter._init_impl`` for one context, minus its ``copyto``, so that
    loading a checkpoint does not hold two copies of a tensor.
    """
    ctx = arr.context
    param.shape = arr.shape
    param._deferred_init = ()
    param._ctx_list = [ctx]
    param._ctx_map = [[], []]
    dev_list = param._ctx_map[ctx.device_typeid & 1]
    while len(dev_list) <= ctx.device_id:
        dev_list.append(None)
    dev_list[ctx.device_id] = 0
    param._data = [arr]
    param._init_grad()


def ensure_initialized(param, ctx=None):
    """Initialize a Parameter that holds no data with its own initializer."""
    if param._data is not None:
        return
    if param._deferred_init:
        param._finish_deferred_init()
        return
    # With an unknown shape MXNet defers the allocation to the first forward pass.
    param.initialize(ctx=ctx or mx.cpu())


def replace_data(param, arr):
    """Give an initialized Parameter ``arr`` (any shape) as its data on every context it
    lives on, with fresh gradient buffers (a vocabulary resize). MXNet's shape setter refuses
    a changed shape, so the shape is set underneath it."""
    ctxs = param.list_ctx()
    param._shape = tuple(arr.shape)
    param._deferred_init = ()
    param._init_impl(arr, ctxs)


def sync_layer_sizes(block):
    """After :func:`replace_data`, make every Embedding and Dense of ``block`` compute with
    its weight's current first dimension (MXNet keeps the sizes it was built with as
    attributes that the forward pass reads), and forget cached graphs."""
    from mxnet.gluon import nn
    for _path, sub in iter_blocks(block):
        if isinstance(sub, nn.Embedding) and sub.weight.shape:
            rows = int(sub.weight.shape[0])
            sub._kwargs["input_dim"] = rows
            if hasattr(sub, "_input_dim"):
                sub._input_dim = rows
        elif isinstance(sub, nn.Dense) and sub.weight.shape and sub.weight.shape[0]:
            sub._units = int(sub.weight.shape[0])
    clear_cached_graphs(block)


def clear_cached_graphs(block):
    """Drop the hybridized graphs of ``block`` and its descendants (rebuilt at the next call)."""
    for _path, sub in iter_blocks(block):
        if hasattr(sub, "_clear_cached_op"):
            sub._clear_cached_op()


# --------------------------------------------------------------------------- oneDNN dispatch

ONEDNN_ISA_VARIABLES = ("DNNL_MAX_CPU_ISA", "ONEDNN_MAX_CPU_ISA", "MKLDNN_MAX_CPU_ISA")


def _cpu_vendor():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def configure_onednn_isa():
    """On AMD CPUs, make MXNet's oneDNN use its AVX2 kernels; return the ISA chosen, or None.

    Why: the oneDNN 2.4.4 inside MXNet 1.9.1 picks its AVX-512 kernels on any CPU that has
    AVX-512, and on AMD EPYC (Zen 4) its float32 inner products then run at 100-130 GFLOP/s
    on 2 cores where its AVX2 kernels reach 175-220 (3072 -> 768 over 128 rows: 6.0 ms
    against 3.2 ms); a BERT-base forward over 1 x 128 tokens gets ~10 % faster, BERT-small's
    ~25 %. Intel CPUs keep the default. A ``DNNL_MAX_CPU_ISA`` (or ``ONEDNN_``/``MKLDNN_``)
    already in the environment always wins, so ``DNNL_MAX_CPU_ISA=ALL`` turns this off.

    oneDNN reads the variable once, when it builds its first primitive; the variable is set
    only around a tiny MXNet operation that makes that happen, then removed, so that other
    oneDNN copies in the process (PyTorch's, which is faster with AVX-512 here) keep their
    defaults. Without effect if MXNet has already run a oneDNN operation.
    """
    if any(v in os.environ for v in ONEDNN_ISA_VARIABLES):
        return None
    if _cpu_vendor() != "AuthenticAMD" or not mx.runtime.Features().is_enabled("MKLDNN"):
        return None
    os.environ["DNNL_MAX_CPU_ISA"] = "AVX2"
    try:
        x = mx.nd.ones((1, 16))
        mx.nd.FullyConnected(x, mx.nd.ones((16, 16)), no_bias=True, num_hidden=16).wait_to_read()
    finally:
        del os.environ["DNNL_MAX_CPU_ISA"]
    return "AVX2"


def kvstore_barrier(kv):
    """Wait until every worker of a distributed kvstore gets here (MXNet 1.9.1 names it
    ``KVStore._barrier``)."""
    kv._barrier()


def release_kvstore(kv):
    """Free a kvstore now, not whenever garbage collection gets to it: for a distributed
    one this is ps-lite's exit handshake (a barrier over every process of the job), which
    the caller wants to happen at a point it chooses and watches. Freeing twice is
    harmless: ``KVStore.__del__`` later frees a null handle, which MXNet ignores."""
    from mxnet.base import _LIB, check_call
    handle, kv.handle = kv.handle, None
    if handle is not None:
        check_call(_LIB.MXKVStoreFree(handle))
