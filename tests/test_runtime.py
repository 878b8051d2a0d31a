"""Process-wide runtime settings made by ``import zoo``: MXNet's oneDNN kernel choice.

Each case runs in a fresh interpreter, since oneDNN fixes its choice once per process;
``DNNL_VERBOSE=1`` makes oneDNN print the instruction set it dispatches to.
"""
import os
import subprocess
import sys

import pytest

from checkpoints._mx_compat import ONEDNN_ISA_VARIABLES, _cpu_vendor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = """
import os, mxnet as mx, zoo
print("CHOSEN", zoo.ONEDNN_ISA, "LEFT", os.environ.get("DNNL_MAX_CPU_ISA"))
x = mx.nd.ones((4, 32))
mx.nd.FullyConnected(x, mx.nd.ones((8, 32)), num_hidden=8, no_bias=True).wait_to_read()
"""


def _probe(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ONEDNN_ISA_VARIABLES}
    clean.update(env, DNNL_VERBOSE="1", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", PROBE], env=clean, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    chosen = next(line for line in out.splitlines() if line.startswith("CHOSEN")).split()
    isa = [line for line in out.splitlines() if line.startswith("dnnl_verbose,info,cpu,isa:")]
    assert isa, out
    return chosen[1], chosen[3], isa[0].split("isa:", 1)[1]


def _has_avx512():
    with open("/proc/cpuinfo") as f:
        return " avx512f" in f.read()


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="needs Linux /proc/cpuinfo")
def test_amd_cpus_get_avx2_kernels_and_the_environment_is_left_as_found():
    chosen, left, isa = _probe()
    assert left == "None"              # the variable was removed again after oneDNN read it
    if _cpu_vendor() == "AuthenticAMD":
        assert chosen == "AVX2"
        assert "AVX2" in isa and "512" not in isa, isa
    else:
        assert chosen == "None"


@pytest.mark.skipif(not os.path.exists("/proc/cpuinfo"), reason="needs Linux /proc/cpuinfo")
def test_a_user_setting_always_wins():
    chosen, left, isa = _probe(DNNL_MAX_CPU_ISA="ALL")
    assert (chosen, left) == ("None", "ALL")
    if _has_avx512():
        assert "512" in isa, isa
