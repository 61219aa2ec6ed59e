"""The PyTorch + Gymnasium peer of the `env_throughput` bench's A2C line: the same A2C update as
the harness's control/cartpole quick preset (an MLP trunk of 3 x 128 ReLU layers with policy and
value heads; 32 CartPole-v1 environments in Gymnasium's synchronous vector env, 4 steps each per
update; RMSprop lr 1e-4, alpha 0.99, eps 1e-8; gradient norm clipped at 0.5; rewards / 100;
gamma 0.99; value 0.5, entropy 0.01), written the way PyTorch A2C implementations are
(CleanRL's loop; ikostrikov's pytorch-a2c-ppo-acktr: act without autograd, then one forward over
the whole rollout for the loss). A step here is one update, 128 environment steps."""

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from peer import arguments, serve

ENVS, ROLLOUT = 32, 4


class ActorCritic(nn.Module):
    def __init__(self, observations, actions, hidden=128):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(observations, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.policy = nn.Linear(hidden, actions)
        self.value = nn.Linear(hidden, 1)

    def forward(self, x):
        h = self.trunk(x)
        return self.policy(h), self.value(h).squeeze(-1)


def main():
    arguments(__doc__, lambda p: None)
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(ENVS)])
    obs, _ = envs.reset(seed=0)
    model = ActorCritic(4, 2)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-4, alpha=0.99, eps=1e-8)
    state = {"obs": torch.as_tensor(obs, dtype=torch.float32)}

    def update():
        observations, actions, rewards, masks = [], [], [], []
        with torch.no_grad():
            for _ in range(ROLLOUT):
                logits, _ = model(state["obs"])
                action = torch.distributions.Categorical(logits=logits).sample()
                obs, reward, terminated, truncated, _ = envs.step(action.numpy())
                observations.append(state["obs"])
                actions.append(action)
                rewards.append(torch.as_tensor(reward, dtype=torch.float32) * 0.01)
                masks.append(torch.as_tensor(1.0 - np.logical_or(terminated, truncated), dtype=torch.float32))
                state["obs"] = torch.as_tensor(obs, dtype=torch.float32)
            ret = model(state["obs"])[1]
            returns = []
            for t in reversed(range(ROLLOUT)):
                ret = rewards[t] + 0.99 * ret * masks[t]
                returns.append(ret)
            returns = torch.stack(returns[::-1]).reshape(-1)
        logits, values = model(torch.cat(observations))
        dist = torch.distributions.Categorical(logits=logits)
        advantages = returns - values
        loss = -(dist.log_prob(torch.cat(actions)) * advantages.detach()).mean() + 0.5 * advantages.pow(2).mean() - 0.01 * dist.entropy().mean()
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()

    serve(update)


main()
