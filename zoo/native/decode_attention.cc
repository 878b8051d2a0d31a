// tiezoo_decode_attention: attention of one query per (row, head) over a key/value cache, the
// inner step of incremental decoding, float32, CPU, as an MXNet 1.9 extension op.
//
// Why: MXNet 1.9.1's batch_dot runs one BLAS call per (row, head). Decoding 32 rows x 12
// heads makes 384 calls of a 1 x 64 by 64 x T product per layer and product: 2.4 ms each
// for what is a read of the cache (PyTorch's bmm: 0.2 ms), about 60 ms of every 4-beam step
// of a batch of 8 on GPT-2 124M. Here each (row, head) is one pass over its keys and values,
// parallel over rows and heads; slots whose mask is MASKED (never written yet) are skipped,
// so the work follows the filled part of a preallocated cache.
//
// Inputs: q (N, 1, D), keys (N, T, D), values (N, T, D), then with own=1 the query token's
// own key and value (N, 1, D) each, then mask (MB, MH, 1, T + own): additive, MB in {1, B},
// MH in {1, H}, where N = B * H (attribute "heads" = H). Output: context (N, 1, D).
// softmax(q . k + mask) over the T slots (and the own token, last) weights the values; the
// query comes scaled. Inference only: its backward is an error.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <omp.h>

#include "common.h"
#include "lib_api.h"

using namespace mxnet::ext;

namespace {

// A mask value at or below this marks a slot nobody may attend to: its weight is exactly 0
// after the softmax (exp underflows), so it is skipped.
constexpr float kSkipBelow = -1e20f;

int ParseInt(const std::unordered_map<std::string, std::string>& attrs, const char* key,
             int fallback) {
  auto it = attrs.find(key);
  return it == attrs.end() ? fallback : std::stoi(it->second);
}

TIEZOO_KERNEL
float Dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

TIEZOO_KERNEL
void Axpy(float w, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += w * x[i];
}

// One (row, head): scores over the unmasked slots, softmax, weighted sum of the values.
void AttendOne(const float* q, const float* keys, const float* values, const float* own_k,
               const float* own_v, const float* mask, int64_t T, int64_t D, float* scores,
               float* out) {
  const int64_t K = T + (own_k != nullptr ? 1 : 0);
  float top = -INFINITY;
  for (int64_t t = 0; t < K; ++t) {
    if (mask[t] <= kSkipBelow) {
      scores[t] = -INFINITY;
      continue;
    }
    const float* k = t < T ? keys + t * D : own_k;
    scores[t] = Dot(q, k, D) + mask[t];
    top = std::max(top, scores[t]);
  }
  std::fill(out, out + D, 0.0f);
  if (top == -INFINITY) return;            // every slot masked: a zero context
  float total = 0.0f;
  for (int64_t t = 0; t < K; ++t) {
    if (scores[t] == -INFINITY) continue;
    scores[t] = std::exp(scores[t] - top);
    total += scores[t];
  }
  const float inv = 1.0f / total;
  for (int64_t t = 0; t < K; ++t) {
    if (scores[t] == -INFINITY) continue;
    Axpy(scores[t] * inv, t < T ? values + t * D : own_v, out, D);
  }
}

MXReturnValue ParseAttrs(const std::unordered_map<std::string, std::string>& attrs,
                         int* num_in, int* num_out) {
  *num_in = ParseInt(attrs, "own", 0) ? 6 : 4;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue InferType(const std::unordered_map<std::string, std::string>& attrs,
                        std::vector<int>* in_types, std::vector<int>* out_types) {
  return tiezoo::Float32Only("tiezoo_decode_attention", *in_types, out_types);
}

MXReturnValue InferShape(const std::unordered_map<std::string, std::string>& attrs,
                         std::vector<std::vector<unsigned int>>* in_shapes,
                         std::vector<std::vector<unsigned int>>* out_shapes) {
  const auto& q = (*in_shapes)[0];
  const auto& k = (*in_shapes)[1];
  const auto& mask = in_shapes->back();
  const int own = ParseInt(attrs, "own", 0);
  const int heads = ParseInt(attrs, "heads", 1);
  if (q.size() != 3 || q[1] != 1 || k.size() != 3 || k[0] != q[0] || k[2] != q[2] ||
      (*in_shapes)[2] != k || mask.size() != 4 || mask[3] != k[1] + own || heads < 1 ||
      q[0] % heads != 0 || (mask[1] != 1 && mask[1] != static_cast<unsigned>(heads)) ||
      (mask[0] != 1 && mask[0] * heads != q[0])) {
    MX_ERROR_MSG << "tiezoo_decode_attention: expected q (N, 1, D), keys and values (N, T, D), "
                    "mask (1 or N/heads, 1 or heads, 1, T + own)";
    return MX_FAIL;
  }
  (*out_shapes)[0] = q;
  return MX_SUCCESS;
}

MXReturnValue Forward(const std::unordered_map<std::string, std::string>& attrs,
                      std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs,
                      const OpResource& res) {
  const bool own = ParseInt(attrs, "own", 0) != 0;
  const int64_t H = ParseInt(attrs, "heads", 1);
  MXTensor& mask_t = inputs->back();
  const float* q = (*inputs)[0].data<float>();
  const float* keys = (*inputs)[1].data<float>();
  const float* values = (*inputs)[2].data<float>();
  const float* own_k = own ? (*inputs)[3].data<float>() : nullptr;
  const float* own_v = own ? (*inputs)[4].data<float>() : nullptr;
  const float* mask = mask_t.data<float>();
  float* out = (*outputs)[0].data<float>();
  const int64_t N = (*inputs)[1].shape[0], T = (*inputs)[1].shape[1];
  const int64_t D = (*inputs)[1].shape[2];
  const int64_t K = T + (own ? 1 : 0);
  const int64_t mask_b = mask_t.shape[0] == 1 ? 0 : mask_t.shape[1] * K;   // row stride
  const int64_t mask_h = mask_t.shape[1] == 1 ? 0 : K;                     // head stride
  const int workers = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), N));
#pragma omp parallel num_threads(workers)
  {
    std::vector<float> scores(static_cast<size_t>(K));
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const int64_t b = n / H, h = n % H;
      AttendOne(q + n * D, keys + n * T * D, values + n * T * D,
                own ? own_k + n * D : nullptr, own ? own_v + n * D : nullptr,
                mask + b * mask_b + h * mask_h, T, D, scores.data(), out + n * D);
    }
  }
  return MX_SUCCESS;
}

// MXNet builds a backward graph for a hybridized block whose parameters take gradients, and
// refuses an operator without one; decoding never runs it, so it only says so.
MXReturnValue Backward(const std::unordered_map<std::string, std::string>& attrs,
                       std::vector<MXTensor>* inputs, std::vector<MXTensor>* outputs,
                       const OpResource& res) {
  MX_ERROR_MSG << "tiezoo_decode_attention is for decoding (inference) only: no gradient";
  return MX_FAIL;
}

}  // namespace

REGISTER_OP(tiezoo_decode_attention)
.setForward(Forward, "cpu")
.setBackward(Backward, "cpu")
.setParseAttrs(ParseAttrs)
.setInferType(InferType)
.setInferShape(InferShape);
