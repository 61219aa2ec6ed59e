// libtorch's fused Adam kernel (what `torch.optim.Adam(fused=True)` runs), which tch does not
// bind: one vectorized pass over the parameters, gradients and both moments per update, on the
// CPU and on CUDA, instead of a libtorch call per arithmetic step.
#include <ATen/core/Tensor.h>
#include <ATen/ops/_fused_adam.h>

#include <cstring>
#include <exception>

// Runs one Adam update in place; `step` holds the update count (1 for the first update). Returns
// null, or an error message the caller frees with free().
extern "C" char* lottery_fused_adam(at::Tensor* param, at::Tensor* grad, at::Tensor* exp_avg, at::Tensor* exp_avg_sq, at::Tensor* step,
                                    double lr, double beta1, double beta2, double weight_decay, double eps) {
  try {
    at::_fused_adam_({*param}, {*grad}, {*exp_avg}, {*exp_avg_sq}, {}, {*step}, lr, beta1, beta2, weight_decay, eps,
                     /*amsgrad=*/false, /*maximize=*/false);
    return nullptr;
  } catch (const std::exception& e) {
    return strdup(e.what());
  }
}
