//! Network architectures for lottery tasks. Each model is built into a `tch` variable store and
//! names the parameters that may be pruned, with the role each plays; a task's preset decides
//! how each role is pruned (e.g. the output layer at half rate, embeddings left dense).

mod actor_critic;
mod actor_critic_kernel;
mod atari_cnn;
mod conv;
mod lenet;
mod lstm_lm;
mod resnet;
mod transformer;
mod vgg;

pub use actor_critic::ActorCritic;
pub use actor_critic_kernel::ActorCriticKernel;
pub use atari_cnn::{AtariActorCritic, AtariArch};
pub use conv::ConvNet;
pub use resnet::CifarResnet;
pub use vgg::Vgg;
pub use lenet::Lenet;
pub use transformer::{DecoderCache, Specials, Transformer, TransformerConfig};
pub use lstm_lm::{stream_nll, LstmLm, LstmLmConfig, LstmState, StreamNll};

use tch::nn;

/// What a prunable parameter does in its network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A convolution kernel.
    Conv,
    /// A hidden fully connected or recurrent matrix (attention and feed-forward included).
    Hidden,
    /// The layer that produces the network's outputs (logits, policy and value heads).
    Output,
    /// A token embedding table (a Transformer's untied output projection too: the paper prunes
    /// it with the embeddings).
    Embedding,
    /// A bias vector (listed by the models Yu et al. prune biases of: the A2C networks and the
    /// LSTM language model); no preset but theirs prunes it.
    Bias,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Conv, Role::Hidden, Role::Output, Role::Embedding, Role::Bias];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Conv => "conv",
            Role::Hidden => "hidden",
            Role::Output => "output",
            Role::Embedding => "embedding",
            Role::Bias => "bias",
        }
    }
}

/// A parameter the pruning engine may mask, by its variable-store name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prunable {
    pub name: String,
    pub role: Role,
}

/// An image classifier: images in, class logits out.
pub trait Classifier: nn::ModuleT {
    /// The weight matrices and kernels that may be pruned. Biases are never listed.
    fn prunable(&self) -> Vec<Prunable>;
}

/// The variable name of layer `layer`'s weight under `path` (what masks and `--ignore` name).
/// The bias of the layer whose weight is `weight` (`trunk.0.weight` -> `trunk.0.bias`).
pub fn bias_of(weight: &str) -> String {
    format!("{}.bias", weight.strip_suffix(".weight").unwrap_or(weight))
}

pub fn weight_name(path: &nn::Path, layer: &str) -> String {
    let prefix = path.components().collect::<Vec<_>>().join(".");
    if prefix.is_empty() {
        format!("{layer}.weight")
    } else {
        format!("{prefix}.{layer}.weight")
    }
}
