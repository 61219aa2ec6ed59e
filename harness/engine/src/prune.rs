//! Magnitude pruning: the schedule of surviving-weight counts per level, the IMP mask update, and
//! the `shuffle` control's random masks.
//!
//! Layers are pruned in groups. With the `global` strategy every layer at the default rate is in
//! one pool ranked by magnitude together; with `layerwise` each layer is its own group. A layer
//! with its own rate (the output layer at half rate, say) is always its own group. Each level a
//! group loses `rate` of its survivors, except the last level, where all groups' removals are
//! scaled down together so the overall density lands exactly on the target.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::mask::Mask;
use crate::seeds::{derive, Rng};
use crate::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Rank all default-rate layers' weights together (the default).
    Global,
    /// Prune each layer by its own magnitudes.
    Layerwise,
}

impl Strategy {
    pub const ALL: [Strategy; 2] = [Strategy::Global, Strategy::Layerwise];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Global => "global",
            Strategy::Layerwise => "layerwise",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Strategy::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown strategy `{s}`; use global or layerwise"))
    }
}

/// How the levels reach the target sparsity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PruneSchedule {
    /// `rate` of the survivors per level until the target (IMP; the default).
    #[default]
    Iterative,
    /// One level straight to the target, each group keeping what the iterative schedule's last
    /// level keeps (the per-layer rules unchanged): the one-shot ablation of Frankle & Carbin and
    /// Yu et al.
    Oneshot,
}

impl PruneSchedule {
    pub const ALL: [PruneSchedule; 2] = [PruneSchedule::Iterative, PruneSchedule::Oneshot];

    pub fn as_str(self) -> &'static str {
        match self {
            PruneSchedule::Iterative => "iterative",
            PruneSchedule::Oneshot => "oneshot",
        }
    }
}

impl std::str::FromStr for PruneSchedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PruneSchedule::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown schedule `{s}`; use iterative or oneshot"))
    }
}

/// A set of layers ranked together, and the fraction of its survivors removed per level.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub layers: Vec<String>,
    pub rate: f64,
}

/// Builds the groups from the prunable layers and their per-level rates.
pub fn groups(layer_rates: &[(String, f64)], default_rate: f64, strategy: Strategy) -> Vec<Group> {
    let mut pool = Group { layers: vec![], rate: default_rate };
    let mut own = vec![];
    for (name, rate) in layer_rates {
        if strategy == Strategy::Global && *rate == default_rate {
            pool.layers.push(name.clone());
        } else {
            own.push(Group { layers: vec![name.clone()], rate: *rate });
        }
    }
    if !pool.layers.is_empty() {
        own.insert(0, pool);
    }
    own
}

/// Surviving weights per group at every level; level 0 is the dense network.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub groups: Vec<Group>,
    pub survivors: Vec<Vec<u64>>,
    pub total: u64,
}

impl Schedule {
    pub fn levels(&self) -> u32 {
        self.survivors.len() as u32 - 1
    }

    pub fn density(&self, level: u32) -> f64 {
        self.survivors[level as usize].iter().sum::<u64>() as f64 / self.total as f64
    }
}

/// Splits `need` into integers proportional to `weights` (largest remainder), each at most `caps`.
fn apportion(weights: &[f64], need: u64, caps: &[u64]) -> Vec<u64> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| if sum > 0.0 { w / sum * need as f64 } else { 0.0 }).collect();
    let mut counts: Vec<u64> = exact.iter().zip(caps).map(|(x, &c)| (x.floor() as u64).min(c)).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    let mut left = need - counts.iter().sum::<u64>();
    while left > 0 {
        let before = left;
        for &g in &order {
            if left > 0 && counts[g] < caps[g] {
                counts[g] += 1;
                left -= 1;
            }
        }
        assert!(left < before, "need exceeds the caps");
    }
    counts
}

/// Plans the levels from group sizes until the overall density is `1 - prune`: iteratively, or
/// in one level to the iterative schedule's last.
pub fn schedule(groups: Vec<Group>, sizes: &[u64], prune: f64, kind: PruneSchedule) -> Result<Schedule, EngineError> {
    let mut planned = iterative(groups, sizes, prune)?;
    if kind == PruneSchedule::Oneshot && planned.survivors.len() > 2 {
        let last = planned.survivors.pop().expect("more than two levels");
        planned.survivors.truncate(1);
        planned.survivors.push(last);
    }
    Ok(planned)
}

/// The fraction of a full level below which a last level is folded into the one before.
const NEGLIGIBLE_LEVEL: f64 = 0.1;

fn iterative(groups: Vec<Group>, sizes: &[u64], prune: f64) -> Result<Schedule, EngineError> {
    let total: u64 = sizes.iter().sum();
    let target = ((1.0 - prune) * total as f64).round() as u64;
    let mut survivors = vec![sizes.to_vec()];
    loop {
        let current = survivors.last().unwrap().clone();
        let alive: u64 = current.iter().sum();
        if alive <= target {
            break;
        }
        let nominal: Vec<f64> = groups.iter().zip(&current).map(|(g, &s)| g.rate * s as f64).collect();
        let mut removals: Vec<u64> = nominal.iter().map(|x| x.round() as u64).collect();
        let left = alive - removals.iter().sum::<u64>().min(alive);
        // A level after this one that would remove under a tenth of a full level is this level's
        // rounding (groups at reduced rates leave a hair above a target such as 0.2), not a level
        // of its own: this level lands on the target instead.
        let next: f64 = groups.iter().zip(current.iter().zip(&removals)).map(|(g, (&s, &r))| g.rate * s.saturating_sub(r) as f64).sum();
        if left <= target || ((left - target) as f64) < NEGLIGIBLE_LEVEL * next {
            removals = apportion(&nominal, alive - target, &current);
        }
        if removals.iter().sum::<u64>() == 0 {
            return Err(EngineError::NothingToPrune(format!(
                "the pruning rates remove nothing at {alive} surviving weights, above the target of {target}; raise --rate (or the --layer-rate values)"
            )));
        }
        survivors.push(current.iter().zip(&removals).map(|(s, r)| s - r).collect());
    }
    Ok(Schedule { groups, survivors, total })
}

/// The next IMP mask: in each group, keeps the `keep[g]` largest-magnitude weights among those
/// that survive in `mask`. Ties are broken by layer order, then position, so the result is exact
/// and deterministic.
pub fn magnitude_prune(
    mask: &Mask,
    weights: &BTreeMap<String, Tensor>,
    groups: &[Group],
    keep: &[u64],
) -> Result<Mask, EngineError> {
    let mut next: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for (group, &keep) in groups.iter().zip(keep) {
        // (magnitude, layer index in group, position): a total order with no equal keys.
        let mut candidates: Vec<(f32, u32, u32)> = vec![];
        let mut layer_masks = vec![];
        for (li, name) in group.layers.iter().enumerate() {
            let w = weights.get(name).ok_or_else(|| EngineError::Inconsistent(format!("no weights for prunable `{name}`")))?;
            let w: Vec<f32> = Vec::try_from(w.to_kind(Kind::Float).flatten(0, -1))?;
            let m: Vec<f32> = Vec::try_from(mask.layers()[name].flatten(0, -1))?;
            for (i, (&wi, &mi)) in w.iter().zip(&m).enumerate() {
                if mi != 0.0 {
                    if !wi.is_finite() {
                        return Err(EngineError::Diverged(format!("weight {i} of `{name}` is {wi}")));
                    }
                    candidates.push((wi.abs(), li as u32, i as u32));
                }
            }
            layer_masks.push(m);
        }
        let alive = candidates.len() as u64;
        if keep > alive {
            return Err(EngineError::Inconsistent(format!("cannot keep {keep} of {alive} surviving weights")));
        }
        let remove = (alive - keep) as usize;
        if remove > 0 {
            let order = |a: &(f32, u32, u32), b: &(f32, u32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2));
            if remove < candidates.len() {
                candidates.select_nth_unstable_by(remove - 1, order);
            }
            for &(_, li, i) in &candidates[..remove] {
                layer_masks[li as usize][i as usize] = 0.0;
            }
        }
        for (name, m) in group.layers.iter().zip(layer_masks) {
            next.insert(name.clone(), m);
        }
    }
    let layers = next
        .into_iter()
        .map(|(name, m)| {
            let shape = mask.layers()[&name].size();
            (name, Tensor::from_slice(&m).reshape(shape))
        })
        .collect();
    Ok(Mask::from_layers(layers))
}

/// The `shuffle` control: for each layer, as many surviving weights as `mask` has, at uniformly
/// random positions.
pub fn shuffled(mask: &Mask, seed: u64, level: u32) -> Mask {
    let layers = mask
        .layers()
        .iter()
        .enumerate()
        .map(|(li, (name, m))| {
            let kept = m.sum(Kind::Float).double_value(&[]) as usize;
            let n = m.numel();
            let mut rng = Rng::new(derive(seed, "shuffle", ((level as u64) << 32) | li as u64));
            let mut values = vec![0f32; n];
            for &i in &rng.permutation(n)[..kept] {
                values[i] = 1.0;
            }
            (name.clone(), Tensor::from_slice(&values).reshape(m.size()))
        })
        .collect();
    Mask::from_layers(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(layers: &[&str], rate: f64) -> Group {
        Group { layers: layers.iter().map(|s| s.to_string()).collect(), rate }
    }

    #[test]
    fn schedule_lands_exactly_on_the_target() {
        let s = schedule(vec![g(&["a", "b"], 0.2), g(&["out"], 0.1)], &[235_200 + 30_000, 1000], 0.9, PruneSchedule::Iterative).unwrap();
        let total = 266_200u64;
        assert_eq!(s.survivors.last().unwrap().iter().sum::<u64>(), (0.1 * total as f64).round() as u64);
        // 0.8^10 = 0.107 > 0.1 > 0.8^11: eleven levels, the pooled layers at 20% each level.
        assert_eq!(s.levels(), 11);
        assert_eq!(s.survivors[1], vec![212_160, 900]);
        assert!((s.density(11) - 0.1).abs() < 1e-5);
    }

    #[test]
    fn a_hair_above_the_target_is_not_a_level_of_its_own() {
        // Heads at half rate remove a little under 20% overall, leaving 100 weights above a 0.2
        // target: one level that lands on it, not a second that prunes 100 weights.
        let groups = || vec![g(&["a", "b"], 0.2), g(&["out"], 0.1)];
        let sizes = [235_200 + 30_000, 1000];
        let s = schedule(groups(), &sizes, 0.2, PruneSchedule::Iterative).unwrap();
        assert_eq!(s.levels(), 1);
        assert_eq!(s.survivors[1].iter().sum::<u64>(), (0.8 * 266_200f64).round() as u64);
        // Two levels to 0.36 (0.8 x 0.8 = 0.64), the second landing on it.
        let s = schedule(groups(), &sizes, 0.36, PruneSchedule::Iterative).unwrap();
        assert_eq!(s.levels(), 2);
        assert!((s.density(2) - 0.64).abs() < 1e-5);
        // A third of a level is a level: 0.8^10 = 0.107 above 0.1 keeps its eleventh.
        assert_eq!(schedule(groups(), &sizes, 0.9, PruneSchedule::Iterative).unwrap().levels(), 11);
    }

    #[test]
    fn the_papers_twenty_levels_are_twenty_levels_for_small_and_large_networks() {
        for size in [5_000u64, 35_000, 266_200, 66_000_000] {
            let s = schedule(vec![g(&["a"], 0.2)], &[size], lottery_task::TWENTY_LEVELS, PruneSchedule::Iterative).unwrap();
            assert_eq!(s.levels(), 20, "{size} weights");
            assert!((s.density(20) - 0.012).abs() < 1e-3, "{}", s.density(20));
            assert_eq!(s.survivors[19][0], s.survivors[18][0] - (0.2 * s.survivors[18][0] as f64).round() as u64, "levels 1-19 remove 20%");
        }
    }

    #[test]
    fn no_pruning_means_only_the_dense_level() {
        let s = schedule(vec![g(&["a"], 0.2)], &[100], 0.0, PruneSchedule::Iterative).unwrap();
        assert_eq!(s.levels(), 0);
        assert_eq!(schedule(vec![g(&["a"], 0.2)], &[100], 0.0, PruneSchedule::Oneshot).unwrap().levels(), 0);
    }

    #[test]
    fn oneshot_is_one_level_to_the_iterative_schedules_last_with_the_same_per_group_counts() {
        let groups = || vec![g(&["a", "b"], 0.2), g(&["out"], 0.1)];
        let sizes = [235_200 + 30_000, 1000];
        let iterative = schedule(groups(), &sizes, 0.9, PruneSchedule::Iterative).unwrap();
        let oneshot = schedule(groups(), &sizes, 0.9, PruneSchedule::Oneshot).unwrap();
        assert_eq!(oneshot.levels(), 1);
        assert_eq!(oneshot.survivors[0], sizes.to_vec());
        assert_eq!(oneshot.survivors[1], *iterative.survivors.last().unwrap());
        assert!((oneshot.density(1) - 0.1).abs() < 1e-5);
        // One level of iterative pruning is already one-shot.
        let one = schedule(groups(), &sizes, 0.15, PruneSchedule::Iterative).unwrap();
        assert_eq!(schedule(groups(), &sizes, 0.15, PruneSchedule::Oneshot).unwrap(), one);
    }

    #[test]
    fn groups_pool_default_rate_layers_only_for_global() {
        let rates = vec![("fc1".to_string(), 0.2), ("fc2".to_string(), 0.2), ("fc3".to_string(), 0.1)];
        assert_eq!(groups(&rates, 0.2, Strategy::Global), vec![g(&["fc1", "fc2"], 0.2), g(&["fc3"], 0.1)]);
        assert_eq!(groups(&rates, 0.2, Strategy::Layerwise).len(), 3);
    }

    fn mask_of(layers: &[(&str, Vec<f32>)]) -> Mask {
        Mask::from_layers(layers.iter().map(|(n, v)| (n.to_string(), Tensor::from_slice(v))).collect())
    }

    fn values(mask: &Mask, name: &str) -> Vec<f32> {
        Vec::try_from(&mask.layers()[name]).unwrap()
    }

    #[test]
    fn global_pruning_ranks_across_layers_and_skips_pruned_weights() {
        let mask = mask_of(&[("a", vec![1., 1., 1., 0.]), ("b", vec![1., 1., 1., 1.])]);
        let weights = BTreeMap::from([
            ("a".to_string(), Tensor::from_slice(&[0.5f32, -0.1, 3.0, 0.0])),
            ("b".to_string(), Tensor::from_slice(&[-2.0f32, 0.2, 0.05, 1.0])),
        ]);
        let next = magnitude_prune(&mask, &weights, &[g(&["a", "b"], 0.5)], &[4]).unwrap();
        assert_eq!(values(&next, "a"), vec![1., 0., 1., 0.]);
        assert_eq!(values(&next, "b"), vec![1., 0., 0., 1.]);
    }

    #[test]
    fn ties_are_broken_by_layer_then_position() {
        let mask = mask_of(&[("a", vec![1.; 3]), ("b", vec![1.; 3])]);
        let weights = BTreeMap::from([
            ("a".to_string(), Tensor::from_slice(&[1.0f32, 1.0, 1.0])),
            ("b".to_string(), Tensor::from_slice(&[-1.0f32, 1.0, 1.0])),
        ]);
        let next = magnitude_prune(&mask, &weights, &[g(&["a", "b"], 0.5)], &[2]).unwrap();
        assert_eq!(values(&next, "a"), vec![0., 0., 0.]);
        assert_eq!(values(&next, "b"), vec![0., 1., 1.]);
    }

    #[test]
    fn diverged_weights_are_an_error() {
        let mask = mask_of(&[("a", vec![1.; 2])]);
        let weights = BTreeMap::from([("a".to_string(), Tensor::from_slice(&[f32::NAN, 1.0]))]);
        assert!(matches!(magnitude_prune(&mask, &weights, &[g(&["a"], 0.5)], &[1]), Err(EngineError::Diverged(_))));
    }

    #[test]
    fn shuffle_keeps_per_layer_counts_and_moves_weights() {
        let mut a = vec![0f32; 1000];
        a[..100].iter_mut().for_each(|x| *x = 1.0);
        let mask = mask_of(&[("a", a.clone()), ("b", vec![1., 0., 0., 0.])]);
        let s = shuffled(&mask, 3, 1);
        assert_eq!(s.counts(), mask.counts());
        assert_ne!(values(&s, "a"), a);
        assert_eq!(values(&shuffled(&mask, 3, 1), "a"), values(&s, "a"));
        assert_ne!(values(&shuffled(&mask, 4, 1), "a"), values(&s, "a"));
    }
}
