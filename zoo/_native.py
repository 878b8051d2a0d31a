"""tiezoo's native operators: a small MXNet extension library built from ``zoo/native/*.cc``.

MXNet 1.9.1 loads extension libraries (``mx.library.load``) compiled against the
``lib_api.h`` its wheel ships; their operators then appear as ``mx.nd.<name>`` and
``mx.sym.<name>`` and run inside hybridized graphs like built-in ones. tiezoo has two:
``tiezoo_layer_norm`` and ``tiezoo_decode_attention`` (see ``zoo/native/*.cc`` for why).

:func:`load` runs at ``import zoo``: it loads the library, building it first with the system
C++ compiler when this user has no build for this source, MXNet version and architecture yet
(about 5 seconds, once, announced on stderr in one line). Builds live in a per-user cache
(``$TIEZOO_NATIVE_DIR``, else ``$XDG_CACHE_HOME/tiezoo/native``, else
``~/.cache/tiezoo/native``), never in the installed package, which may be read-only or
shared by machines with different CPUs. The library is compiled for the architecture's
baseline with AVX-512/AVX2 clones of its kernels chosen at load time, so one build runs on
every CPU of the architecture (``TIEZOO_NATIVE_FLAGS`` adds compiler flags of your own).

Without a compiler, with ``TIEZOO_NATIVE=0``, or when building or loading fails, everything
runs on MXNet's own operators and :data:`AVAILABLE` is False; a failed build says so once,
in one line, and is not retried until the source, MXNet or the compiler changes (delete the
cache folder to retry). :data:`STATUS` says what happened::

    python -c "import zoo; print(zoo._native.STATUS)"
"""
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys

import mxnet as mx

from checkpoints.atomic import atomic_path, umask_mode
from checkpoints.errors import CheckpointError
from heads._layers import LayerNorm

__all__ = ["AVAILABLE", "STATUS", "load", "build", "library_path"]

_log = logging.getLogger(__name__)
SOURCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native")
SOURCES = ("layer_norm.cc", "decode_attention.cc")
HEADERS = ("common.h",)

# See build() for why these flags (no -march=native; -mtune=native; -fopenmp).
BUILD_FLAGS = ("-std=c++14", "-O3", "-mtune=native", "-fopenmp", "-shared", "-fPIC")

AVAILABLE = False
STATUS = "not loaded"


def cache_dir():
    """The per-user folder that holds the builds (created when a build is written)."""
    if os.environ.get("TIEZOO_NATIVE_DIR"):
        return os.environ["TIEZOO_NATIVE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tiezoo", "native")


def _compiler():
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def _build_key():
    """What a build depends on: the sources, MXNet's version, the architecture, the compiler
    and the extra flags. Not the CPU model: the kernels dispatch at load time."""
    h = hashlib.sha256()
    for name in SOURCES + HEADERS:
        with open(os.path.join(SOURCE_DIR, name), "rb") as f:
            h.update(f.read())
    h.update(" ".join(BUILD_FLAGS).encode())
    h.update(os.environ.get("TIEZOO_NATIVE_FLAGS", "").encode())
    h.update(str(_compiler()).encode())
    return f"mxnet{mx.__version__}-{platform.machine()}-{h.hexdigest()[:12]}"


def library_path():
    """Where this user's build for this source, MXNet version and architecture lives."""
    return os.path.join(cache_dir(), f"libtiezoo_native-{_build_key()}.so")


def build(path=None):
    """Compile the library into ``path`` (atomically: a concurrent reader never sees half a
    file); returns the path. Raises RuntimeError with the compiler's message on failure."""
    path = path or library_path()
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C++ compiler (g++ or c++) on PATH")
    mx_dir = os.path.dirname(os.path.abspath(mx.__file__))
    include = os.path.join(mx_dir, "include")
    lib_api = os.path.join(mx_dir, "src", "lib_api.cc")
    if not os.path.exists(lib_api):
        raise RuntimeError(f"this MXNet wheel has no {lib_api}")
    # No -march=native: the kernels carry their own AVX-512/AVX2 clones, and the code runs on
    # any CPU of the architecture. -mtune=native changes only instruction choice and order
    # (measured: the clones run 15 % slower with generic tuning on an EPYC, as fast as a
    # -march=native build with it). -fopenmp: the system libgomp, the OpenMP runtime
    # MXNet's wheel links to (one thread pool for both).
    extra = os.environ.get("TIEZOO_NATIVE_FLAGS", "").split()
    try:
        with atomic_path(path, durable=False, mode=umask_mode(0o777)) as tmp:
            cmd = [compiler, *BUILD_FLAGS, *extra,
                   "-I", include, "-I", os.path.join(include, "mxnet"), "-o", tmp,
                   *[os.path.join(SOURCE_DIR, s) for s in SOURCES], lib_api]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                first = next((line for line in proc.stderr.splitlines() if "error" in line),
                             proc.stderr.strip()[-300:])
                raise RuntimeError(f"{os.path.basename(compiler)} failed: {first}")
    except CheckpointError as e:         # the cache folder is not writable
        raise RuntimeError(str(e)) from None
    return path


def load():
    """Load (building if needed) the library once; returns :data:`AVAILABLE`."""
    global AVAILABLE, STATUS
    if AVAILABLE:
        return True
    if os.environ.get("TIEZOO_NATIVE", "1") == "0":
        STATUS = "disabled by TIEZOO_NATIVE=0"
        return False
    path = library_path()
    failed = path + ".failed"
    try:
        if not os.path.exists(path):
            if os.path.exists(failed):
                with open(failed, encoding="utf-8") as f:
                    raise RuntimeError(f"an earlier build failed ({f.read().strip()}); "
                                       f"delete {failed} to retry")
            print(f"tiezoo: building the native operators into {cache_dir()} (once, a few "
                  f"seconds)", file=sys.stderr, flush=True)
            try:
                build(path)
            except (OSError, RuntimeError) as e:
                reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                print(f"tiezoo: native operators not built ({reason}); MXNet's own operators "
                      f"are used (set TIEZOO_NATIVE=0 to skip the build)", file=sys.stderr,
                      flush=True)
                _remember_failure(failed, reason)
                raise
        mx.library.load(path, False)
    except (OSError, RuntimeError, mx.base.MXNetError) as e:
        STATUS = f"unavailable, MXNet's own operators are used: {e}".strip()
        _log.info("tiezoo native operators %s", STATUS)
        return False
    AVAILABLE = hasattr(mx.nd, "tiezoo_layer_norm") and hasattr(mx.sym, "tiezoo_layer_norm")
    STATUS = f"loaded {path}" if AVAILABLE else f"{path} loaded but registered no operator"
    LayerNorm.native_op = AVAILABLE
    return AVAILABLE


def _remember_failure(marker, reason):
    """Record a failed build so that later imports do not retry (and repeat the message)."""
    try:
        from checkpoints.atomic import atomic_write
        atomic_write(marker, reason + "\n", durable=False)
    except Exception:       # an unwritable cache only means the next import retries
        pass
