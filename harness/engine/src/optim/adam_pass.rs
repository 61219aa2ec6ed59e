//! Adam in one Rust pass over the memory, with the gradient mask folded in.
//!
//! libtorch's fused Adam kernel (`_fused_adam_`) reads the parameters, gradients and both moments
//! once per update; masking the gradients before it is another pass over the gradients and the
//! mask. This pass does both at once, with the float operations of libtorch's vectorized CPU
//! kernel in its order and fused where it fuses them, so its numbers are the kernel's, bit for
//! bit (tested against the kernel). The last elements, fewer than [`UNIT`], go to the kernel
//! itself: libtorch runs them through its scalar code, whose fusing differs. The work is split
//! over libtorch's CPU threads, as the kernel splits it.

use std::ffi::c_void;
use std::ops::Range;

use tch::{Kind, Tensor};

/// Elements per unit of work: a multiple of every vector width libtorch's kernels use (8 floats
/// for AVX2, 16 for AVX-512), so the units cover exactly what the kernel's vector loop covers.
const UNIT: usize = 64;

/// The fewest units one thread takes: libtorch's grain for elementwise kernels (32,768 floats).
const GRAIN_UNITS: i64 = 32_768 / UNIT as i64;

/// Adam's per-update scalars, computed as libtorch's kernel computes them: in double, from the
/// update count as a float, then rounded to f32 where the kernel rounds them.
pub(super) struct AdamScalars {
    /// `1 - beta1`, the weight of `exp_avg.lerp_(grad, 1 - beta1)`.
    lerp_weight: f32,
    /// The lerp's form: `m + w (g - m)` for weights under 0.5, else `g + (w - 1)(g - m)`.
    lerp_from_average: bool,
    beta2: f32,
    one_minus_beta2: f32,
    bias_correction2_sqrt: f32,
    eps: f32,
    minus_step_size: f32,
    weight_decay: Option<f32>,
}

impl AdamScalars {
    /// The scalars of update number `updates` (1 for the first).
    pub(super) fn new(updates: u64, lr: f64, beta1: f64, beta2: f64, weight_decay: f64, eps: f64) -> Self {
        let step = updates as f32 as f64;
        let bias_correction1 = 1.0 - beta1.powf(step);
        let bias_correction2 = 1.0 - beta2.powf(step);
        let lerp_weight = (1.0 - beta1) as f32;
        AdamScalars {
            lerp_weight,
            lerp_from_average: lerp_weight.abs() < 0.5,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            bias_correction2_sqrt: bias_correction2.sqrt() as f32,
            eps: eps as f32,
            minus_step_size: (-(lr / bias_correction1)) as f32,
            weight_decay: (weight_decay != 0.0).then_some(weight_decay as f32),
        }
    }

    /// One element's update, `g` its gradient (masked). The kernel's multiply-adds fuse: the
    /// weight decay's, the lerp's (an explicit fused multiply-add there) and the second moment's
    /// last one; the rest rounds after each operation.
    #[inline(always)]
    fn update(&self, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        let g = match self.weight_decay {
            Some(wd) => p.mul_add(wd, g),
            None => g,
        };
        *m = if self.lerp_from_average { self.lerp_weight.mul_add(g - *m, *m) } else { (self.lerp_weight - 1.0).mul_add(g - *m, g) };
        *v = (self.one_minus_beta2 * g).mul_add(g, *v * self.beta2);
        let denom = v.sqrt() / self.bias_correction2_sqrt + self.eps;
        *p += self.minus_step_size * *m / denom;
    }
}

extern "C" {
    /// `src/cpu_parallel.cpp`.
    fn lottery_parallel_for(units: i64, grain: i64, chunk: extern "C" fn(*mut c_void, i64, i64), context: *mut c_void) -> *mut std::ffi::c_char;
    fn lottery_cpu_capability() -> i32;
}

/// Whether this pass gives the kernel's numbers here: an x86-64 CPU with AVX2 and FMA, and
/// libtorch running its AVX2 or AVX-512 kernels (compiled to fuse; its portable ones are not).
pub(super) fn pass_matches_the_kernel() -> bool {
    static MATCHES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MATCHES.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        let cpu_fuses = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
        #[cfg(not(target_arch = "x86_64"))]
        let cpu_fuses = false;
        // SAFETY: takes and returns plain values.
        cpu_fuses && unsafe { lottery_cpu_capability() } > 0
    })
}

/// One Adam update of `p` (moments `exp_avg`, `exp_avg_sq`) with the gradient `grad` times
/// `mask`, when every tensor is a contiguous f32 CPU buffer of one length and
/// [`pass_matches_the_kernel`]; returns false, doing nothing, otherwise. The last elements (fewer
/// than [`UNIT`]) go to `kernel`, which must mask and update them as libtorch's kernel does;
/// the rest of `grad` stays unmasked.
pub(super) fn adam_in_one_pass(p: &Tensor, grad: &Tensor, mask: Option<&Tensor>, exp_avg: &Tensor, exp_avg_sq: &Tensor, k: &AdamScalars, kernel: impl FnOnce(Range<i64>)) -> bool {
    let n = p.numel();
    let fits = |t: &Tensor| t.device() == tch::Device::Cpu && t.kind() == Kind::Float && t.is_contiguous() && t.numel() == n;
    if !([p, grad, exp_avg, exp_avg_sq].into_iter().chain(mask).all(fits) && pass_matches_the_kernel()) {
        return false;
    }
    let pass = Pass { p: p.data_ptr().cast(), grad: grad.data_ptr().cast(), mask: mask.map(|m| m.data_ptr().cast::<f32>().cast_const()), m: exp_avg.data_ptr().cast(), v: exp_avg_sq.data_ptr().cast(), k };
    let units = n / UNIT;
    // SAFETY: `pass` points into tensors that outlive the call; `run_units` reads it only.
    let error = unsafe { lottery_parallel_for(units as i64, GRAIN_UNITS, run_units, (&pass as *const Pass).cast_mut().cast()) };
    if !error.is_null() {
        // SAFETY: a message the bridge made with strdup.
        let message = unsafe { std::ffi::CStr::from_ptr(error) }.to_string_lossy().into_owned();
        unsafe { super::libc_free(error.cast()) };
        panic!("libtorch's parallel_for failed: {message}");
    }
    if units * UNIT < n {
        kernel((units * UNIT) as i64..n as i64);
    }
    true
}

/// One update's buffers and scalars, shared by the threads; each writes its own units only.
struct Pass<'a> {
    p: *mut f32,
    grad: *const f32,
    mask: Option<*const f32>,
    m: *mut f32,
    v: *mut f32,
    k: &'a AdamScalars,
}

/// Updates units `begin..end` of the `Pass` at `context`.
extern "C" fn run_units(context: *mut c_void, begin: i64, end: i64) {
    // SAFETY: `context` is the `Pass` adam_in_one_pass lent for this call; libtorch hands each
    // thread disjoint units inside the buffers' length, so no element is written twice at once.
    let pass = unsafe { &*(context as *const Pass) };
    let (start, len) = (begin as usize * UNIT, (end - begin) as usize * UNIT);
    unsafe {
        let p = std::slice::from_raw_parts_mut(pass.p.add(start), len);
        let grad = std::slice::from_raw_parts(pass.grad.add(start), len);
        let m = std::slice::from_raw_parts_mut(pass.m.add(start), len);
        let v = std::slice::from_raw_parts_mut(pass.v.add(start), len);
        match pass.mask {
            Some(mask) => masked_units(p, grad, std::slice::from_raw_parts(mask.add(start), len), m, v, pass.k),
            None => dense_units(p, grad, m, v, pass.k),
        }
    }
}

#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
unsafe fn dense_units(p: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32], k: &AdamScalars) {
    for (((p, &g), m), v) in p.iter_mut().zip(grad).zip(m).zip(v) {
        k.update(p, g, m, v);
    }
}

/// The gradient masked as one multiply (`grad * mask`) would mask it, then the update.
#[cfg_attr(target_arch = "x86_64", target_feature(enable = "avx2,fma"))]
unsafe fn masked_units(p: &mut [f32], grad: &[f32], mask: &[f32], m: &mut [f32], v: &mut [f32], k: &AdamScalars) {
    for ((((p, &g), &keep), m), v) in p.iter_mut().zip(grad).zip(mask).zip(m).zip(v) {
        k.update(p, g * keep, m, v);
    }
}
