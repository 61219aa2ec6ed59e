//! Optimizers written over tensors so their state can be checkpointed exactly (tch's built-in
//! optimizers keep their state inside libtorch, out of reach). Semantics follow PyTorch's
//! `torch.optim` classes of the same names.

use tch::{Kind, Tensor};

pub use lottery_task::{LrSchedule, OptimizerSpec, Rule};

use crate::mask::BoundMask;
use crate::EngineError;

mod adam_pass;

use adam_pass::{adam_in_one_pass, AdamScalars};

/// An optimizer over a fixed list of parameters, with its state as plain tensors.
///
/// When the parameters share a kind and a device (every model here), they become views of one
/// flat buffer, and so do their gradients (from the first update on) and the optimizer state: an
/// update is a handful of libtorch calls over the whole model instead of a handful per parameter,
/// the way PyTorch's fused and multi-tensor (`foreach`) optimizers work. Adam masks the gradients
/// inside its one pass over the buffers ([`adam_pass`]); the other rules mask them with one
/// multiply over the flat gradients first.
pub struct Optimizer {
    spec: OptimizerSpec,
    params: Vec<(String, Tensor)>,
    /// Per parameter: SGD momentum buffer; Adam first and second moments; RMSprop square average.
    /// Views of `flat`'s state when there is one.
    state: Vec<Vec<Tensor>>,
    flat: Option<Flat>,
    /// Updates taken since the optimizer was built (Adam's bias correction).
    updates: u64,
}

/// The parameters, gradients and state as single 1-D buffers.
struct Flat {
    params: Tensor,
    /// Set at the first update, once autograd has made every gradient.
    grads: Option<Tensor>,
    state: Vec<Tensor>,
    /// The mask (by [`BoundMask::id`]) as a 0/1 buffer over all parameters.
    mask: Option<(u64, Tensor)>,
    /// The parameters in the buffers (those that train), by index, and where each lies.
    members: Vec<usize>,
    spans: Vec<(i64, i64)>,
}

/// The smallest normal `f32`. libtorch's `sqrt` (MKL's vector math) takes a slow path, about 14
/// times slower, for every zero it meets, and a pruned weight's RMSprop square average is exactly
/// zero: raising it to this before the square root removes the cost without changing a result,
/// since its root (1e-19) vanishes when the optimizer's epsilon (1e-8, at least 1e-12) is added.
/// (This made a masked LeNet step 45% slower than a dense one with the Adam written the same
/// way; Adam's square root, in its own pass or libtorch's fused kernel, has no such path.)
const SMALLEST_NORMAL: f64 = f32::MIN_POSITIVE as f64;

impl Optimizer {
    pub fn new(spec: OptimizerSpec, params: Vec<(String, Tensor)>) -> Self {
        let slots = match spec.rule {
            Rule::Sgd { momentum, .. } => usize::from(momentum != 0.0),
            Rule::Adam { .. } => 2,
            Rule::RmsProp { .. } => 1,
        };
        // Trainable parameters only: buffers such as batch norm's running statistics never
        // have a gradient, and keep their own (unused) state as before.
        let members: Vec<usize> = (0..params.len()).filter(|&i| params[i].1.requires_grad()).collect();
        let same_kind = members.windows(2).all(|w| {
            let (a, b) = (&params[w[0]].1, &params[w[1]].1);
            a.kind() == b.kind() && a.device() == b.device()
        });
        if members.is_empty() || !same_kind {
            let state = params.iter().map(|(_, p)| (0..slots).map(|_| p.zeros_like()).collect()).collect();
            return Optimizer { spec, params, state, flat: None, updates: 0 };
        }
        let mut spans = vec![];
        let mut offset = 0;
        for &i in &members {
            let n = params[i].1.numel() as i64;
            spans.push((offset, n));
            offset += n;
        }
        let flat_params = into_one_buffer(&members.iter().map(|&i| params[i].1.shallow_clone()).collect::<Vec<_>>(), &spans);
        let flat_state: Vec<Tensor> = (0..slots).map(|_| flat_params.zeros_like()).collect();
        let mut state: Vec<Vec<Tensor>> = params.iter().map(|(_, p)| (0..slots).map(|_| p.zeros_like()).collect()).collect();
        for (&i, &span) in members.iter().zip(&spans) {
            state[i] = flat_state.iter().map(|s| view_of(s, span, &params[i].1.size())).collect();
        }
        let flat = Flat { params: flat_params, grads: None, state: flat_state, mask: None, members, spans };
        Optimizer { spec, params, state, flat: Some(flat), updates: 0 }
    }

    pub fn zero_grad(&mut self) {
        // Parameters outside the buffers never have a gradient once the buffers have them all.
        if let Some(grads) = self.flat.as_mut().and_then(|f| f.grads.as_mut()) {
            let _ = grads.zero_();
            return;
        }
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// Makes every gradient a view of one buffer, once autograd has made them all; `None` while
    /// some parameter has none yet (it had no part in the loss).
    fn flat_grads(&mut self) -> Option<Tensor> {
        let flat = self.flat.as_mut()?;
        if flat.grads.is_none() {
            let grads: Vec<Tensor> = flat.members.iter().map(|&i| self.params[i].1.grad()).collect();
            if grads.iter().any(|g| !g.defined()) {
                return None;
            }
            flat.grads = Some(into_one_buffer(&grads, &flat.spans));
        }
        flat.grads.as_ref().map(Tensor::shallow_clone)
    }

    /// `mask` as a 0/1 buffer over all parameters (ones where it masks nothing), made once per mask.
    fn flat_mask(&mut self, mask: &BoundMask) -> Tensor {
        let flat = self.flat.as_mut().expect("flat buffers");
        if flat.mask.as_ref().map(|(id, _)| *id) != Some(mask.id()) {
            let parts: Vec<Tensor> = flat.members.iter().map(|&i| &self.params[i].1).map(|p| mask.of(p).map(|m| m.reshape([-1])).unwrap_or_else(|| p.ones_like().detach().reshape([-1]))).collect();
            flat.mask = Some((mask.id(), Tensor::cat(&parts, 0)));
        }
        flat.mask.as_ref().expect("just made").1.shallow_clone()
    }

    /// Scales gradients so their global L2 norm is at most the spec's clip value.
    fn clip_grads(&self, flat_grads: Option<&Tensor>) {
        let Some(max_norm) = self.spec.grad_clip else { return };
        let grads: Vec<Tensor> = match flat_grads {
            Some(g) => vec![g.shallow_clone()],
            None => self.params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect(),
        };
        if grads.is_empty() {
            return;
        }
        let total = if grads.len() == 1 {
            grads[0].norm().double_value(&[])
        } else {
            let norms: Vec<Tensor> = grads.iter().map(|g| g.norm().to_kind(Kind::Double)).collect();
            Tensor::stack(&norms, 0).norm().double_value(&[])
        };
        if total > max_norm {
            let scale = max_norm / (total + 1e-6);
            for g in grads {
                let _ = g.shallow_clone().g_mul_scalar_(scale);
            }
        }
    }

    /// One update at training iteration `step` (which picks the learning rate), leaving the
    /// weights `mask` prunes where they are (at zero): their gradients are zeroed first, so no
    /// optimizer state (momentum, moments) ever builds up for them and their update is zero.
    pub fn step(&mut self, step: u64, mask: Option<&BoundMask>) {
        self.updates += 1;
        let lr = self.spec.lr_at(step);
        match self.flat_grads() {
            Some(grads) => {
                let mut flat_mask = mask.map(|mask| self.flat_mask(mask));
                // Clipping measures the masked gradients; otherwise the update masks them itself
                // (Adam in the same pass).
                if self.spec.grad_clip.is_some() {
                    if let Some(flat_mask) = flat_mask.take() {
                        tch::no_grad(|| {
                            let _ = grads.shallow_clone().g_mul_(&flat_mask);
                        });
                    }
                    self.clip_grads(Some(&grads));
                }
                let flat = self.flat.as_ref().expect("flat buffers");
                let mut state: Vec<Tensor> = flat.state.iter().map(Tensor::shallow_clone).collect();
                tch::no_grad(|| update(&self.spec, self.updates, lr, &mut flat.params.shallow_clone(), grads, flat_mask.as_ref(), &mut state));
            }
            None => {
                if let Some(mask) = mask {
                    mask.apply_to_grads();
                }
                self.clip_grads(None);
                tch::no_grad(|| {
                    for ((_, p), state) in self.params.iter().zip(&mut self.state) {
                        let grad = p.grad();
                        if grad.defined() {
                            update(&self.spec, self.updates, lr, &mut p.shallow_clone(), grad, None, state);
                        }
                    }
                });
            }
        }
    }

    /// The state as named tensors, for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("optim.updates".to_string(), Tensor::from_slice(&[self.updates as i64]))];
        for ((name, _), slots) in self.params.iter().zip(&self.state) {
            for (i, t) in slots.iter().enumerate() {
                out.push((format!("optim.{i}.{name}"), t.shallow_clone()));
            }
        }
        out
    }

    /// Restores the state written by [`Optimizer::state_tensors`].
    pub fn load_state(&mut self, tensors: &std::collections::BTreeMap<String, Tensor>) -> Result<(), EngineError> {
        let missing = |k: &str| EngineError::corrupt("the checkpoint", format!("it has no optimizer tensor `{k}`"));
        self.updates = tensors.get("optim.updates").ok_or_else(|| missing("optim.updates"))?.int64_value(&[0]) as u64;
        for ((name, _), slots) in self.params.iter().zip(&mut self.state) {
            for (i, slot) in slots.iter_mut().enumerate() {
                let key = format!("optim.{i}.{name}");
                let saved = tensors.get(&key).ok_or_else(|| missing(&key))?;
                tch::no_grad(|| slot.copy_(saved));
            }
        }
        Ok(())
    }
}

extern "C" {
    /// `src/fused_adam.cpp`.
    fn lottery_fused_adam(
        param: *mut torch_sys::C_tensor,
        grad: *mut torch_sys::C_tensor,
        exp_avg: *mut torch_sys::C_tensor,
        exp_avg_sq: *mut torch_sys::C_tensor,
        step: *mut torch_sys::C_tensor,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
    ) -> *mut std::ffi::c_char;
}

/// One Adam update of `p` in place by libtorch's fused kernel; `state` holds the two moments.
#[allow(clippy::too_many_arguments)]
fn fused_adam(p: &mut Tensor, grad: &Tensor, state: &mut [Tensor], updates: u64, lr: f64, beta1: f64, beta2: f64, weight_decay: f64, eps: f64) {
    let mut step = Tensor::from_slice(&[updates as f32]).to_device(p.device());
    let mut grad = grad.shallow_clone();
    let (exp_avg, exp_avg_sq) = state.split_at_mut(1);
    // SAFETY: every pointer is a live tensor handle owned by this frame or the caller, and the
    // kernel only reads and writes their storage.
    let error = unsafe {
        lottery_fused_adam(p.as_mut_ptr(), grad.as_mut_ptr(), exp_avg[0].as_mut_ptr(), exp_avg_sq[0].as_mut_ptr(), step.as_mut_ptr(), lr, beta1, beta2, weight_decay, eps)
    };
    if !error.is_null() {
        // SAFETY: a message the bridge made with strdup.
        let message = unsafe { std::ffi::CStr::from_ptr(error) }.to_string_lossy().into_owned();
        unsafe { libc_free(error.cast()) };
        panic!("libtorch's fused Adam failed: {message}");
    }
}

extern "C" {
    #[link_name = "free"]
    fn libc_free(ptr: *mut std::ffi::c_void);
}

/// Copies `tensors` into one new 1-D buffer, tensor `i` at `spans[i]`, and makes each of them a
/// view of its part (in place: every handle to the tensor sees the buffer from then on).
fn into_one_buffer(tensors: &[Tensor], spans: &[(i64, i64)]) -> Tensor {
    tch::no_grad(|| {
        let buffer = Tensor::cat(&tensors.iter().map(|t| t.detach().reshape([-1])).collect::<Vec<_>>(), 0);
        for (t, &span) in tensors.iter().zip(spans) {
            let _ = t.shallow_clone().set_source_tensor_(&view_of(&buffer, span, &t.size()));
        }
        buffer
    })
}

/// The part `span` of the 1-D `buffer`, shaped `shape`.
fn view_of(buffer: &Tensor, (offset, len): (i64, i64), shape: &[i64]) -> Tensor {
    buffer.narrow(0, offset, len).view(shape)
}

/// The update of `spec`'s rule to `p` with gradient `grad` times `mask` (0/1, where there is
/// one) and the rule's `state`, after `updates` updates, at learning rate `lr`: Adam gives the
/// numbers of libtorch's fused kernel (PyTorch's `Adam(fused=True)`), in one pass with the mask
/// where [`adam_in_one_pass`] can; SGD and RMSprop follow `torch.optim`'s single-tensor
/// implementations.
fn update(spec: &OptimizerSpec, updates: u64, lr: f64, p: &mut Tensor, grad: Tensor, mask: Option<&Tensor>, state: &mut [Tensor]) {
    let wd = spec.weight_decay;
    if let Rule::Adam { beta1, beta2, eps } = spec.rule {
        let scalars = AdamScalars::new(updates, lr, beta1, beta2, wd, eps);
        let kernel_on = |range: std::ops::Range<i64>| {
            let part = |t: &Tensor| t.view([-1]).narrow(0, range.start, range.end - range.start);
            let grad = part(&grad);
            if let Some(mask) = mask {
                let _ = grad.shallow_clone().g_mul_(&part(mask));
            }
            fused_adam(&mut part(p), &grad, &mut [part(&state[0]), part(&state[1])], updates, lr, beta1, beta2, wd, eps);
        };
        if !adam_in_one_pass(p, &grad, mask, &state[0], &state[1], &scalars, kernel_on) {
            if let Some(mask) = mask {
                let _ = grad.shallow_clone().g_mul_(mask);
            }
            // The kernel adds the weight decay itself.
            fused_adam(p, &grad, state, updates, lr, beta1, beta2, wd, eps);
        }
        return;
    }
    if let Some(mask) = mask {
        let _ = grad.shallow_clone().g_mul_(mask);
    }
    let g = if wd != 0.0 { &grad + &*p * wd } else { grad.shallow_clone() };
    match spec.rule {
        Rule::Sgd { momentum, nesterov } => {
            let update = if momentum != 0.0 {
                let buf = &mut state[0];
                let _ = buf.g_mul_scalar_(momentum).g_add_(&g);
                if nesterov { &g + &*buf * momentum } else { buf.shallow_clone() }
            } else {
                g
            };
            let _ = p.g_add_(&(update * -lr));
        }
        Rule::RmsProp { alpha, eps } => {
            if !rmsprop_in_two_passes(p, &grad, &mut state[0], lr, alpha, eps, wd) {
                rmsprop_by_ops(p, &g, &mut state[0], lr, alpha, eps);
            }
        }
        Rule::Adam { .. } => unreachable!("Adam returned above"),
    }
}

/// RMSprop as `torch.optim.RMSprop` writes it, a libtorch call per arithmetic step (`g` with the
/// weight decay added).
fn rmsprop_by_ops(p: &mut Tensor, g: &Tensor, square_avg: &mut Tensor, lr: f64, alpha: f64, eps: f64) {
    let _ = square_avg.g_mul_scalar_(alpha).addcmul_(&(g * (1.0 - alpha)), g);
    let mut denom = square_avg.clamp_min(SMALLEST_NORMAL);
    let _ = denom.sqrt_().g_add_scalar_(eps);
    let _ = p.addcdiv_(&(g * -lr), &denom);
}

/// [`rmsprop_by_ops`] in two passes over the memory, for contiguous f32 tensors on an x86-64 CPU
/// with FMA (returns false, doing nothing, elsewhere): the same float operations in the same
/// order, fused where libtorch's vectorized kernels fuse them (the square average's
/// multiply-add), and the square root still libtorch's (MKL's differs from the correctly rounded
/// one in the last bit for about one value in 170), so the same numbers (tested), with two
/// libtorch calls and one temporary instead of eight and three (an A2C update on classic control
/// spent more on those than on the update's arithmetic).
fn rmsprop_in_two_passes(p: &mut Tensor, grad: &Tensor, square_avg: &mut Tensor, lr: f64, alpha: f64, eps: f64, weight_decay: f64) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let fits = |t: &Tensor| t.device() == tch::Device::Cpu && t.kind() == Kind::Float && t.is_contiguous();
        let n = p.numel();
        let cpu_fuses = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
        if !(cpu_fuses && fits(p) && fits(grad) && fits(square_avg) && grad.numel() == n && square_avg.numel() == n) {
            return false;
        }
        // Scalars become f32 as libtorch's float kernels take them.
        let scalars = RmsPropScalars { alpha: alpha as f32, one_minus_alpha: (1.0 - alpha) as f32, eps: eps as f32, minus_lr: -lr as f32, weight_decay: (weight_decay != 0.0).then_some(weight_decay as f32) };
        // SAFETY (both calls): the CPU has AVX2 and FMA (checked above); the buffers are distinct
        // contiguous f32 buffers of `n` elements on the CPU (a parameter, its gradient, its state
        // and a fresh temporary never share memory), used only here, between libtorch calls.
        unsafe { square_average_pass(floats(p, n), floats(grad, n), floats(square_avg, n), &scalars) };
        let mut denom = square_avg.clamp_min(SMALLEST_NORMAL);
        let _ = denom.sqrt_();
        unsafe { parameter_pass(floats(p, n), floats(grad, n), floats(&denom, n), &scalars) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (p, grad, square_avg, lr, alpha, eps, weight_decay);
        false
    }
}

#[cfg(target_arch = "x86_64")]
struct RmsPropScalars {
    alpha: f32,
    one_minus_alpha: f32,
    eps: f32,
    minus_lr: f32,
    weight_decay: Option<f32>,
}

#[cfg(target_arch = "x86_64")]
impl RmsPropScalars {
    /// The gradient with the weight decay added (`grad + p * wd`).
    #[inline(always)]
    fn gradient(&self, g: f32, p: f32) -> f32 {
        match self.weight_decay {
            Some(wd) => g + p * wd,
            None => g,
        }
    }
}

/// `square_avg = square_avg * alpha + (g * (1 - alpha)) * g`, the last multiply-add fused.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn square_average_pass(p: &[f32], grad: &[f32], square_avg: &mut [f32], k: &RmsPropScalars) {
    for ((&p, &g), s) in p.iter().zip(grad).zip(square_avg) {
        let g = k.gradient(g, p);
        *s = (g * k.one_minus_alpha).mul_add(g, *s * k.alpha);
    }
}

/// `p += (g * -lr) / (root + eps)`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn parameter_pass(p: &mut [f32], grad: &[f32], root: &[f32], k: &RmsPropScalars) {
    for ((p, &g), &r) in p.iter_mut().zip(grad).zip(root) {
        let g = k.gradient(g, *p);
        *p += g * k.minus_lr / (r + k.eps);
    }
}

/// The `n` floats of a contiguous f32 CPU tensor; see the callers' safety notes.
#[cfg(target_arch = "x86_64")]
unsafe fn floats<'a>(t: &Tensor, n: usize) -> &'a mut [f32] {
    std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Minimizes (p - 3)^2 from p = 0 and returns p after `n` steps.
    fn run(rule: Rule, lr: f64, n: u64) -> f64 {
        let p = Tensor::zeros([1], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let spec = OptimizerSpec { rule, lr, weight_decay: 0.0, schedule: LrSchedule::Constant, grad_clip: None };
        let mut opt = Optimizer::new(spec, vec![("p".into(), p.shallow_clone())]);
        for step in 0..n {
            opt.zero_grad();
            (&p - 3.0).square().sum(Kind::Float).backward();
            opt.step(step, None);
        }
        p.double_value(&[0])
    }

    #[test]
    fn first_steps_match_pytorch() {
        // torch.optim.Adam(lr=0.1): the first step moves by lr exactly (bias-corrected m/sqrt(v) = 1).
        assert!((run(Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 0.1, 1) - 0.1).abs() < 1e-6);
        // SGD: p - lr * 2(p - 3) = 0.6 after one step of lr 0.1.
        assert!((run(Rule::Sgd { momentum: 0.0, nesterov: false }, 0.1, 1) - 0.6).abs() < 1e-6);
        // SGD momentum 0.9: buf = 0.9 * (-6) + 2(0.6 - 3) = -10.2, so p = 0.6 + 0.1 * 10.2.
        let two = run(Rule::Sgd { momentum: 0.9, nesterov: false }, 0.1, 2);
        assert!((two - (0.6 + 0.1 * (6.0 * 0.9 + 4.8))).abs() < 1e-5, "{two}");
        // RMSprop(alpha 0.99): v = 0.01 * 36, step = lr * 6 / sqrt(0.36) = 10 * lr.
        assert!((run(Rule::RmsProp { alpha: 0.99, eps: 1e-8 }, 0.01, 1) - 0.1).abs() < 1e-5);
    }

    /// Trains a small two-layer regression with a mask on its first weight; with `extra_double`,
    /// a parameter of another kind joins, so the optimizer cannot flatten and updates each
    /// parameter on its own. Returns the float parameters and the first layer's Adam moments.
    fn masked_regression(rule: Rule, extra_double: bool) -> (Vec<Tensor>, Tensor) {
        // Values from sines, not the global RNG, which tests running in parallel share.
        let wave = |n: i64, f: f64| (Tensor::arange(n, (Kind::Float, Device::Cpu)) * f).sin();
        let w1 = wave(40, 0.37).view([8, 5]).set_requires_grad(true);
        let w2 = wave(8, 1.3).view([1, 8]).set_requires_grad(true);
        let x = wave(80, 0.91).view([16, 5]);
        let y = wave(16, 2.1).view([16, 1]);
        let keep = wave(40, 5.7).gt(0.4).to_kind(Kind::Float).view([8, 5]);
        let mut params = vec![("w1".to_string(), w1.shallow_clone()), ("w2".to_string(), w2.shallow_clone())];
        let unused = Tensor::zeros([2], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        if extra_double {
            params.push(("d".to_string(), unused.shallow_clone()));
        }
        let vars: std::collections::BTreeMap<String, Tensor> = params.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
        let mask = crate::mask::BoundMask::bind(&crate::mask::Mask::from_layers([("w1".to_string(), keep.shallow_clone())].into()), &vars, Device::Cpu).unwrap();
        mask.apply_to_weights();
        let spec = OptimizerSpec { rule, lr: 0.01, weight_decay: 0.01, schedule: LrSchedule::Constant, grad_clip: None };
        let mut opt = Optimizer::new(spec, params);
        for step in 0..20 {
            let _ = crate::train::training_step(|| (x.matmul(&w1.tr()).relu().matmul(&w2.tr()) - &y).square().mean(Kind::Float) + unused.sum(Kind::Double).to_kind(Kind::Float), &mut opt, Some(&mask), step);
        }
        let moment = opt.state_tensors().into_iter().find(|(n, _)| n == "optim.1.w1").map(|(_, t)| t.copy()).unwrap_or_else(|| w1.zeros_like());
        (vec![w1.detach().copy(), w2.detach().copy()], moment * (1 - keep))
    }

    #[test]
    fn flat_update_matches_per_parameter_update_and_keeps_pruned_weights_at_zero() {
        for rule in [
            Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            Rule::Sgd { momentum: 0.9, nesterov: true },
            Rule::RmsProp { alpha: 0.99, eps: 1e-8 },
        ] {
            let (flat, flat_pruned_moment) = masked_regression(rule, false);
            let (each, _) = masked_regression(rule, true);
            for (a, b) in flat.iter().zip(&each) {
                assert!(a.equal(b), "{rule:?}: the flat update differs from the per-parameter one");
            }
            let pruned = flat[0].eq(0.0).to_kind(Kind::Float).sum(Kind::Float).double_value(&[]);
            assert!(pruned >= 20.0, "{rule:?}: only {pruned} of 40 weights are zero; the mask keeps about 12");
            assert_eq!(flat_pruned_moment.abs().sum(Kind::Float).double_value(&[]), 0.0, "{rule:?}: pruned weights gathered optimizer state");
        }
    }

    #[test]
    fn buffers_without_gradients_stay_out_of_the_flat_update_and_keep_their_checkpoint_state() {
        let w = Tensor::ones([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        // Like batch norm's running statistics: a variable that never has a gradient.
        let running = Tensor::full([3], 0.5, (Kind::Float, Device::Cpu));
        let spec = OptimizerSpec { rule: Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, lr: 0.1, weight_decay: 0.0, schedule: LrSchedule::Constant, grad_clip: Some(1.0) };
        let mut opt = Optimizer::new(spec, vec![("running".into(), running.shallow_clone()), ("w".into(), w.shallow_clone())]);
        for step in 0..3 {
            opt.zero_grad();
            (&w * 2.0).sum(Kind::Float).backward();
            opt.step(step, None);
        }
        assert!(opt.flat.as_ref().is_some_and(|f| f.grads.is_some()), "the trainable parameters take the flat update");
        assert!(running.eq(0.5).all().int64_value(&[]) == 1, "a buffer was updated");
        assert!((w.double_value(&[0]) - 0.7).abs() < 1e-4, "Adam moves w by lr per step: {}", w.double_value(&[0]));
        let names: Vec<String> = opt.state_tensors().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"optim.0.running".to_string()) && names.contains(&"optim.1.w".to_string()), "{names:?}");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn rmsprop_in_two_passes_gives_the_numbers_of_the_op_by_op_update() {
        let wave = |n: i64, f: f64, scale: f64| (Tensor::arange(n, (Kind::Float, Device::Cpu)) * f).sin() * scale;
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            eprintln!("skipped: the two-pass RMSprop runs on x86-64 CPUs with AVX2 and FMA only");
            return;
        }
        for weight_decay in [0.0, 0.01] {
            let (mut p1, mut s1) = (wave(4096, 0.37, 1.0), Tensor::zeros([4096], (Kind::Float, Device::Cpu)));
            let (mut p2, mut s2) = (p1.copy(), s1.copy());
            for step in 0..5 {
                // Exact zeros among the gradients, as pruned weights have.
                let grad = wave(4096, 0.91 + step as f64, 0.3) * wave(4096, 5.7, 1.0).gt(-0.5).to_kind(Kind::Float);
                let g = if weight_decay != 0.0 { &grad + &p2 * weight_decay } else { grad.shallow_clone() };
                assert!(rmsprop_in_two_passes(&mut p1, &grad, &mut s1, 0.01, 0.99, 1e-8, weight_decay));
                rmsprop_by_ops(&mut p2, &g, &mut s2, 0.01, 0.99, 1e-8);
                assert!(p1.equal(&p2) && s1.equal(&s2), "step {step}, weight decay {weight_decay}: max difference {} (square averages equal: {})", (&p1 - &p2).abs().max().double_value(&[]), s1.equal(&s2));
            }
        }
    }

    #[test]
    fn adam_in_one_pass_gives_the_numbers_of_libtorchs_fused_kernel_with_the_mask_folded_in() {
        let wave = |n: i64, f: f64, scale: f64| (Tensor::arange(n, (Kind::Float, Device::Cpu)) * f).sin() * scale;
        let threads = tch::get_num_threads();
        let mut passes = 0;
        // 100,003 elements: several units of work per thread and a tail the kernel takes; 4,096:
        // no tail, one thread. beta1 0.4 takes the lerp's other form.
        for (n, beta1, weight_decay, masked, threads_now) in [(100_003, 0.9, 0.0, true, 1), (100_003, 0.9, 0.01, true, 2), (100_003, 0.4, 0.01, false, 2), (4096, 0.4, 0.0, true, 1), (4096, 0.9, 0.01, false, 1)] {
            tch::set_num_threads(threads_now);
            let zeros = || Tensor::zeros([n], (Kind::Float, Device::Cpu));
            let mask = wave(n, 5.7, 1.0).gt(-0.5).to_kind(Kind::Float);
            let mask = masked.then_some(&mask);
            // Pruned weights are zero, as the engine keeps them.
            let (mut p1, m1, v1) = (mask.map_or_else(|| wave(n, 0.37, 1.0), |mask| wave(n, 0.37, 1.0) * mask), zeros(), zeros());
            let (mut p2, m2, v2) = (p1.copy(), zeros(), zeros());
            for updates in 1..=6u64 {
                let grad = wave(n, 0.91 + updates as f64, 0.3);
                let (grad1, grad2) = (grad.copy(), grad.copy());
                let spec = OptimizerSpec { rule: Rule::Adam { beta1, beta2: 0.999, eps: 1e-8 }, lr: 0.01, weight_decay, schedule: LrSchedule::Constant, grad_clip: None };
                update(&spec, updates, 0.01, &mut p1, grad1, mask, &mut [m1.shallow_clone(), v1.shallow_clone()]);
                if let Some(mask) = mask {
                    let _ = grad2.shallow_clone().g_mul_(mask);
                }
                fused_adam(&mut p2, &grad2, &mut [m2.shallow_clone(), v2.shallow_clone()], updates, 0.01, beta1, 0.999, weight_decay, 1e-8);
                let differ = |a: &Tensor, b: &Tensor| a.ne_tensor(b).sum(Kind::Int64).int64_value(&[]);
                assert!(p1.equal(&p2) && m1.equal(&m2) && v1.equal(&v2), "{n} elements, beta1 {beta1}, weight decay {weight_decay}, masked {masked}, {threads_now} threads, update {updates}: {} parameters, {} first and {} second moments differ", differ(&p1, &p2), differ(&m1, &m2), differ(&v1, &v2));
                if masked {
                    let pruned = mask.unwrap().eq(0.0);
                    let pruned_state = [&p1, &m1, &v1].map(|t| (t * &pruned).abs().sum(Kind::Float).double_value(&[]));
                    assert_eq!(pruned_state, [0.0; 3], "a pruned weight moved or gathered a moment");
                }
            }
            passes += usize::from(adam_pass::pass_matches_the_kernel());
        }
        tch::set_num_threads(threads);
        if passes == 0 {
            eprintln!("note: the one-pass Adam does not run here (it needs x86-64 with AVX2 and FMA, and libtorch's AVX2 or AVX-512 kernels); the kernel's own path was checked");
        }
    }

    #[test]
    fn all_rules_converge() {
        for rule in [
            Rule::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            Rule::Sgd { momentum: 0.9, nesterov: true },
            Rule::RmsProp { alpha: 0.99, eps: 1e-8 },
        ] {
            assert!((run(rule, 0.05, 500) - 3.0).abs() < 0.05, "{rule:?}");
        }
    }

    #[test]
    fn multistep_schedule() {
        let spec = OptimizerSpec {
            rule: Rule::Sgd { momentum: 0.0, nesterov: false },
            lr: 1.0,
            weight_decay: 0.0,
            schedule: LrSchedule::MultiStep { milestones: vec![10, 20], gamma: 0.1 },
            grad_clip: None,
        };
        assert_eq!(spec.lr_at(9), 1.0);
        assert!((spec.lr_at(10) - 0.1).abs() < 1e-12);
        assert!((spec.lr_at(25) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn inverse_sqrt_schedule_warms_up_linearly_then_decays() {
        let spec = OptimizerSpec {
            rule: Rule::Adam { beta1: 0.9, beta2: 0.98, eps: 1e-9 },
            lr: 1e-3,
            weight_decay: 0.0,
            schedule: LrSchedule::InverseSqrt { warmup: 100 },
            grad_clip: None,
        };
        assert!((spec.lr_at(0) - 1e-5).abs() < 1e-15);
        assert!((spec.lr_at(49) - 5e-4).abs() < 1e-15);
        assert!((spec.lr_at(99) - 1e-3).abs() < 1e-15);
        assert!((spec.lr_at(399) - 5e-4).abs() < 1e-15);
    }
}
