//! Minibatches of a fixed training set in a fresh random order every epoch. The order of epoch
//! `e` is a permutation seeded from the data seed and `e` alone, so a ticket resumed from a
//! checkpoint draws exactly the batches an uninterrupted one would.

use tch::{Device, Tensor};

use lottery_task::seeds::{derive, Rng};

pub struct EpochOrder {
    data_seed: u64,
    examples: usize,
    batch_size: i64,
    per_epoch: u64,
    /// The current epoch and its permutation, on the data's device.
    current: Option<(u64, Tensor)>,
}

impl EpochOrder {
    /// `per_epoch` batches of `batch_size` from `examples` examples per epoch.
    pub fn new(data_seed: u64, examples: usize, batch_size: i64, per_epoch: u64) -> Self {
        EpochOrder { data_seed, examples, batch_size, per_epoch, current: None }
    }

    /// The example indices of training iteration `step`, on `device`.
    pub fn batch(&mut self, step: u64, device: Device) -> Tensor {
        let (epoch, position) = (step / self.per_epoch, (step % self.per_epoch) as i64);
        if self.current.as_ref().map(|(e, _)| *e) != Some(epoch) {
            let order: Vec<i64> = Rng::new(derive(self.data_seed, "epoch", epoch)).permutation(self.examples).into_iter().map(|i| i as i64).collect();
            self.current = Some((epoch, Tensor::from_slice(&order).to_device(device)));
        }
        let order = &self.current.as_ref().expect("set above").1;
        order.narrow(0, position * self.batch_size, self.batch_size)
    }
}
