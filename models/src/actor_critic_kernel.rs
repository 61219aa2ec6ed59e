//! The actor-critic MLP's forward and backward on the CPU with the gradient derived by hand: the
//! matrix products are libtorch's (the same BLAS as autograd's), the rest (bias, ReLU, the two
//! small heads, their gradients) is plain Rust over the tensors' memory.
//!
//! Why: an A2C update on classic control is a few forwards of 32 rows through a 3 x 128 MLP and
//! one backward over 128. Through autograd that is about 190 libtorch calls, each costing more
//! than its arithmetic; here it is about 20 matrix products and nothing else, and the rollout's
//! activations are kept for the backward instead of computed again.

use tch::{Device, Kind, Tensor};

use crate::ActorCritic;

/// Forward and backward of an [`ActorCritic`] on the CPU over `blocks` batches of `batch` rows
/// each, whose activations it keeps for one backward (a rollout's steps, then the bootstrap).
pub struct ActorCriticKernel {
    /// Per trunk layer: weight `[out, in]` and bias, the model's own tensors (so the optimizer's
    /// in-place updates are seen; views of them are made per call, as the optimizer may move
    /// them into one buffer).
    trunk: Vec<(Tensor, Tensor)>,
    policy: (Tensor, Tensor),
    value: (Tensor, Tensor),
    batch: usize,
    blocks: usize,
    observations: usize,
    actions: usize,
    /// The trunk's inputs (observations) and each layer's output after ReLU, `[blocks * batch, width]`.
    activations: Vec<Tensor>,
    /// The gradient with respect to each trunk layer's output, `[blocks * batch, width]`.
    output_grads: Vec<Tensor>,
    /// Logits `[blocks * batch, actions]` and values `[blocks * batch]`.
    logits: Vec<f32>,
    values: Vec<f32>,
}

/// The floats of a contiguous CPU float tensor.
///
/// Safety: the caller holds no other slice of the same memory while this one lives, and no
/// libtorch call writes it meanwhile (each use below is a short read or write between calls).
unsafe fn floats<'a>(t: &Tensor) -> &'a mut [f32] {
    debug_assert!(t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous());
    std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, t.numel())
}

/// Checks that `t` is what [`floats`] may read: a contiguous float tensor on the CPU.
fn check(t: &Tensor, what: &str) {
    assert!(t.defined() && t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous(), "{what} must be a contiguous float tensor on the CPU");
}

impl ActorCriticKernel {
    /// A kernel for `model` (on the CPU, in f32) over `blocks` batches of `batch` rows.
    pub fn new(model: &ActorCritic, batch: usize, blocks: usize) -> Self {
        let pair = |l: &tch::nn::Linear| (l.ws.shallow_clone(), l.bs.as_ref().expect("the actor-critic's layers have biases").shallow_clone());
        let trunk: Vec<(Tensor, Tensor)> = model.trunk.iter().map(pair).collect();
        let policy = pair(&model.policy);
        let value = pair(&model.value);
        for (w, b) in trunk.iter().chain([&policy, &value]) {
            check(w, "a weight");
            check(b, "a bias");
        }
        let observations = trunk[0].0.size()[1] as usize;
        let actions = policy.0.size()[0] as usize;
        let rows = (blocks * batch) as i64;
        let options = (Kind::Float, Device::Cpu);
        let mut activations = vec![Tensor::zeros([rows, observations as i64], options)];
        let mut output_grads = vec![];
        for (w, _) in &trunk {
            let width = w.size()[0];
            activations.push(Tensor::zeros([rows, width], options));
            output_grads.push(Tensor::zeros([rows, width], options));
        }
        let rows = rows as usize;
        ActorCriticKernel { trunk, policy, value, batch, blocks, observations, actions, activations, output_grads, logits: vec![0.0; rows * actions], values: vec![0.0; rows] }
    }

    /// Runs block `block`'s `observations` (`batch x observations` floats, row-major) through
    /// the network, keeping the activations; returns its logits (`batch x actions`) and values.
    pub fn forward(&mut self, block: usize, observations: &[f32]) -> (&[f32], &[f32]) {
        assert!(block < self.blocks, "block {block} of {}", self.blocks);
        assert_eq!(observations.len(), self.batch * self.observations, "one observation per row");
        let (start, rows) = ((block * self.batch) as i64, self.batch as i64);
        let block_of = |t: &Tensor| t.narrow(0, start, rows);
        let input = block_of(&self.activations[0]);
        // SAFETY: `input` is a fresh view of a buffer only this kernel holds.
        unsafe { floats(&input) }.copy_from_slice(observations);
        let x = tch::no_grad(|| {
            let mut x = input;
            for (layer, (w, b)) in self.trunk.iter().enumerate() {
                let out = block_of(&self.activations[layer + 1]);
                let _ = b.addmm_out(&out, &x, &w.tr());
                // SAFETY: the product is written; nothing else holds this block.
                relu(unsafe { floats(&out) });
                x = out;
            }
            x
        });
        // SAFETY: reads of the last layer's block and of the heads' parameters, which no call
        // writes while the heads are computed.
        let (h, pw, pb, vw, vb) = unsafe { (floats(&x), floats(&self.policy.0), floats(&self.policy.1), floats(&self.value.0), floats(&self.value.1)) };
        let width = pw.len() / self.actions;
        let (first, end) = (block * self.batch, (block + 1) * self.batch);
        for (row, features) in h.chunks_exact(width).enumerate() {
            let r = first + row;
            for a in 0..self.actions {
                self.logits[r * self.actions + a] = pb[a] + dot(&pw[a * width..(a + 1) * width], features);
            }
            self.values[r] = vb[0] + dot(vw, features);
        }
        (&self.logits[first * self.actions..end * self.actions], &self.values[first..end])
    }

    /// The logits (row-major) and values of the first `blocks` blocks, as the last forwards left them.
    pub fn outputs(&self, blocks: usize) -> (&[f32], &[f32]) {
        let rows = blocks * self.batch;
        (&self.logits[..rows * self.actions], &self.values[..rows])
    }

    /// Writes the gradient of a loss over the first `blocks` blocks into the parameters'
    /// gradients (overwriting them), given its gradient with respect to those rows' logits
    /// (`d_logits`, row-major) and values (`d_values`); where a parameter has no gradient
    /// tensor yet (the first backward), it makes one first.
    pub fn backward(&mut self, blocks: usize, d_logits: &[f32], d_values: &[f32]) {
        assert!(blocks <= self.blocks);
        let rows = blocks * self.batch;
        assert_eq!((d_logits.len(), d_values.len()), (rows * self.actions, rows), "one gradient per row");
        self.make_gradients();
        let grad = |p: &Tensor| {
            let g = p.grad();
            check(&g, "a gradient");
            g
        };
        let depth = self.trunk.len();
        let top = self.activations[depth].narrow(0, 0, rows as i64);
        let d_top = self.output_grads[depth - 1].narrow(0, 0, rows as i64);
        tch::no_grad(|| {
            // SAFETY: parameters and gradients are read and written between libtorch calls, each
            // through one slice; the activation and gradient buffers are only this kernel's.
            unsafe {
                let (h, dh) = (floats(&top), floats(&d_top));
                let width = h.len() / rows;
                let (pw, vw) = (floats(&self.policy.0), floats(&self.value.0));
                let (gpw, gpb, gvw, gvb) = (floats(&grad(&self.policy.0)), floats(&grad(&self.policy.1)), floats(&grad(&self.value.0)), floats(&grad(&self.value.1)));
                gpw.fill(0.0);
                gpb.fill(0.0);
                gvw.fill(0.0);
                gvb.fill(0.0);
                for r in 0..rows {
                    let features = &h[r * width..(r + 1) * width];
                    let d_features = &mut dh[r * width..(r + 1) * width];
                    let dv = d_values[r];
                    gvb[0] += dv;
                    axpy(dv, features, gvw);
                    for (f, w) in d_features.iter_mut().zip(vw.iter()) {
                        *f = dv * w;
                    }
                    for a in 0..self.actions {
                        let dl = d_logits[r * self.actions + a];
                        gpb[a] += dl;
                        axpy(dl, features, &mut gpw[a * width..(a + 1) * width]);
                        axpy(dl, &pw[a * width..(a + 1) * width], d_features);
                    }
                    relu_backward(d_features, features);
                }
            }
            for layer in (0..depth).rev() {
                let (w, b) = &self.trunk[layer];
                let d_out = self.output_grads[layer].narrow(0, 0, rows as i64);
                let input = self.activations[layer].narrow(0, 0, rows as i64);
                let _ = d_out.tr().mm_out(&grad(w), &input);
                // SAFETY: as above.
                unsafe {
                    let (d, gb) = (floats(&d_out), floats(&grad(b)));
                    gb.fill(0.0);
                    for row in d.chunks_exact(gb.len()) {
                        for (g, v) in gb.iter_mut().zip(row) {
                            *g += v;
                        }
                    }
                }
                if layer > 0 {
                    let d_in = self.output_grads[layer - 1].narrow(0, 0, rows as i64);
                    let _ = d_out.mm_out(&d_in, w);
                    // SAFETY: as above.
                    unsafe { relu_backward(floats(&d_in), floats(&input)) };
                }
            }
        });
    }

    /// Makes the parameters' gradient tensors (zeros) where they have none yet, through
    /// autograd, so they are what the first backward of any loss makes and the optimizer takes
    /// them as it takes those.
    fn make_gradients(&self) {
        let params: Vec<&Tensor> = self.trunk.iter().chain([&self.policy, &self.value]).flat_map(|(w, b)| [w, b]).collect();
        if params.iter().all(|p| p.grad().defined()) {
            return;
        }
        let zero = Tensor::stack(&params.iter().map(|p| (*p * 0.0).sum(Kind::Float)).collect::<Vec<_>>(), 0).sum(Kind::Float);
        zero.backward();
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `y += alpha * x`.
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// ReLU in place (written as a select so it vectorizes).
fn relu(x: &mut [f32]) {
    for v in x {
        *v = if *v > 0.0 { *v } else { 0.0 };
    }
}

/// Zeroes the gradient `d` where the ReLU's output `h` is zero (it was cut).
fn relu_backward(d: &mut [f32], h: &[f32]) {
    for (d, h) in d.iter_mut().zip(h) {
        *d = if *h > 0.0 { *d } else { 0.0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn;

    /// Gradients through the kernel against autograd's for the same loss: a weighted sum of the
    /// logits and values, whose gradient with respect to them is the weights.
    #[test]
    fn hand_derived_gradients_match_autograd() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let model = ActorCritic::new(&vs.root(), 4, &[16, 16, 16], 3);
        let (batch, blocks) = (5, 3);
        let rows = (batch * blocks) as i64;
        let observations = Tensor::randn([rows, 4], (Kind::Float, Device::Cpu));
        let logit_weights = Tensor::randn([rows, 3], (Kind::Float, Device::Cpu));
        let value_weights = Tensor::randn([rows], (Kind::Float, Device::Cpu));

        let (logits, values) = model.forward(&observations);
        ((&logits * &logit_weights).sum(Kind::Float) + (&values * &value_weights).sum(Kind::Float)).backward();
        let autograd: Vec<(String, Vec<f32>)> = vs.variables().into_iter().map(|(n, p)| (n, Vec::<f32>::try_from(p.grad().reshape([-1])).unwrap())).collect();
        for (_, mut p) in vs.variables() {
            p.zero_grad();
        }

        let mut kernel = ActorCriticKernel::new(&model, batch, blocks);
        let obs = Vec::<f32>::try_from(observations.reshape([-1])).unwrap();
        let (want_logits, want_values) = (Vec::<f32>::try_from(logits.reshape([-1])).unwrap(), Vec::<f32>::try_from(values).unwrap());
        for block in 0..blocks {
            let (l, v) = kernel.forward(block, &obs[block * batch * 4..(block + 1) * batch * 4]);
            for (got, want) in l.iter().zip(&want_logits[block * batch * 3..]).chain(v.iter().zip(&want_values[block * batch..])) {
                assert!((got - want).abs() < 1e-5, "forward: {got} against {want}");
            }
        }
        // A weight of the gradient is made nonzero first: the backward must overwrite, not add.
        let _ = vs.variables()["fc2.weight"].grad().fill_(5.0);
        kernel.backward(blocks, &Vec::<f32>::try_from(logit_weights.reshape([-1])).unwrap(), &Vec::<f32>::try_from(value_weights).unwrap());
        for (name, want) in autograd {
            let got = Vec::<f32>::try_from(vs.variables()[&name].grad().reshape([-1])).unwrap();
            let scale = want.iter().fold(1e-3f32, |m, w| m.max(w.abs()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * scale.max(1.0), "{name}: {g} against {w}");
            }
            assert!(want.iter().any(|w| *w != 0.0), "{name} has a gradient to compare");
        }
    }
}
