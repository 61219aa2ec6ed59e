// libtorch's CPU thread pool and vector capability, for the engine's own passes over memory
// (`src/optim/adam_pass.rs`): they split their work over the threads libtorch's kernels use, so a
// Rust pass in place of a libtorch kernel takes the same threads (`--threads`), no more.
#include <ATen/Parallel.h>
#include <ATen/Version.h>

#include <cstdint>
#include <cstring>
#include <exception>

// Runs `chunk(context, begin, end)` over [0, units) on libtorch's thread pool, in ranges of at
// least `grain` units (all on the calling thread when `units` is at most `grain` or libtorch has
// one thread). `chunk` must not unwind. Returns null, or an error message the caller frees with
// free().
extern "C" char* lottery_parallel_for(int64_t units, int64_t grain, void (*chunk)(void*, int64_t, int64_t), void* context) {
  try {
    at::parallel_for(0, units, grain, [&](int64_t begin, int64_t end) { chunk(context, begin, end); });
    return nullptr;
  } catch (const std::exception& e) {
    return strdup(e.what());
  }
}

// The vector instructions libtorch's CPU kernels run with here: 2 for AVX-512, 1 for AVX2, 0 for
// anything else (its portable kernels, or `ATEN_CPU_CAPABILITY=default`).
extern "C" int lottery_cpu_capability() {
  try {
    const std::string capability = at::get_cpu_capability();
    if (capability == "AVX512") return 2;
    if (capability == "AVX2") return 1;
    return 0;
  } catch (const std::exception&) {
    return 0;
  }
}
