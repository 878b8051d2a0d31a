"""tiezoo's native operators: a small MXNet extension library built from ``zoo/native/*.cc``.

MXNet 1.9.1 loads extension libraries (``mx.library.load``) compiled against the
``lib_api.h`` its wheel ships; their operators then appear as ``mx.nd.<name>`` and
``mx.sym.<name>`` and run inside hybridized graphs like built-in ones. tiezoo has one:
``tiezoo_layer_norm`` (see ``zoo/native/layer_norm.cc`` for why).

:func:`load` runs at ``import zoo``: it loads the library, building it first with the system
C++ compiler when it is missing or older than its source (about 3 seconds, once). Without a
compiler, with ``TIEZOO_NATIVE=0`` or when loading fails, everything runs on MXNet's own
operators and :data:`AVAILABLE` is False; :data:`STATUS` says why::

    python -c "import zoo; print(zoo._native.STATUS)"
"""
import logging
import os
import shutil
import subprocess
import tempfile

import mxnet as mx

from heads._layers import LayerNorm

__all__ = ["AVAILABLE", "STATUS", "load", "build", "library_path"]

_log = logging.getLogger(__name__)
SOURCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native")
SOURCES = ("layer_norm.cc",)

AVAILABLE = False
STATUS = "not loaded"


def library_path():
    """Where the library for this MXNet version lives (``TIEZOO_NATIVE_DIR`` overrides)."""
    folder = os.environ.get("TIEZOO_NATIVE_DIR") or os.path.join(SOURCE_DIR, "build")
    return os.path.join(folder, f"libtiezoo_native-mxnet{mx.__version__}.so")


def _stale(path):
    if not os.path.exists(path):
        return True
    built = os.path.getmtime(path)
    return any(os.path.getmtime(os.path.join(SOURCE_DIR, s)) > built for s in SOURCES)


def build(path=None):
    """Compile the library into ``path`` (atomically: a concurrent reader never sees half a
    file); returns the path. Raises RuntimeError with the compiler's message on failure."""
    path = path or library_path()
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise RuntimeError("no C++ compiler (g++ or c++) on PATH")
    mx_dir = os.path.dirname(os.path.abspath(mx.__file__))
    include = os.path.join(mx_dir, "include")
    lib_api = os.path.join(mx_dir, "src", "lib_api.cc")
    if not os.path.exists(lib_api):
        raise RuntimeError(f"this MXNet wheel has no {lib_api}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=os.path.dirname(path))
    os.close(fd)
    # -march=native: the library is built on the machine that runs it; -fopenmp: the
    # system libgomp, the OpenMP runtime MXNet's wheel links to (one thread pool for both)
    cmd = [compiler, "-std=c++14", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC",
           "-I", include, "-I", os.path.join(include, "mxnet"), "-o", tmp,
           *[os.path.join(SOURCE_DIR, s) for s in SOURCES], lib_api]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{os.path.basename(compiler)} failed:\n{proc.stderr[-2000:]}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
    try:
        if _stale(path):
            build(path)
        mx.library.load(path, False)
    except (OSError, RuntimeError, mx.base.MXNetError) as e:
        STATUS = f"unavailable, MXNet's own operators are used: {e}".strip()
        _log.info("tiezoo native operators %s", STATUS)
        return False
    AVAILABLE = hasattr(mx.nd, "tiezoo_layer_norm") and hasattr(mx.sym, "tiezoo_layer_norm")
    STATUS = f"loaded {path}" if AVAILABLE else f"{path} loaded but registered no operator"
    LayerNorm.native_op = AVAILABLE
    return AVAILABLE

