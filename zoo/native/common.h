// What tiezoo's extension operators share: the kernel clones and the float32-only type rule.
#ifndef TIEZOO_NATIVE_COMMON_H_
#define TIEZOO_NATIVE_COMMON_H_

#include <vector>

#include "lib_api.h"

// Portability: the library is compiled for the architecture's baseline (no -march=native: a
// cache shared by the nodes of a cluster must run on all of them); a kernel marked
// TIEZOO_KERNEL is cloned for AVX-512 and AVX2 with GCC's target_clones, one clone chosen at
// load time by the CPU (the compiler's baseline elsewhere).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TIEZOO_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TIEZOO_KERNEL
#endif

namespace tiezoo {

// Every input float32, and so the first output; otherwise an error naming the operator.
inline mxnet::ext::MXReturnValue Float32Only(const char* op, const std::vector<int>& in_types,
                                             std::vector<int>* out_types) {
  for (int t : in_types) {
    if (t != mxnet::ext::kFloat32) {
      MX_ERROR_MSG << op << ": float32 only, got dtype " << t;
      return mxnet::ext::MX_FAIL;
    }
  }
  (*out_types)[0] = mxnet::ext::kFloat32;
  return mxnet::ext::MX_SUCCESS;
}

}  // namespace tiezoo

#endif  // TIEZOO_NATIVE_COMMON_H_
