"""The SAC-N update of `sas-learner` (agent/learner/src/sac_n.rs) in plain PyTorch, for a side-by-side speed
comparison: `bin/bench-learner.sh --with-torch` runs it in the same sitting as `sas-agent bench`.

Written from the update's definition in sac_n.rs, nets.rs and ops.rs, at the benchmark's sizes
(bench.rs: O = 256, A = 137, E = 2, B = 128, hidden 256-256 tanh, SacConfig defaults with initial alpha 1):

    a' ~ pi(.|s'),  y = r + gamma (1 - terminated) (min_k qf_k_target(s', a') - alpha log pi(a'|s'))   no grad
    qf_loss    = sum_k mean_b w_b Huber_1(qf_k(s, a) - y)
    a~ ~ pi(.|s) (reparameterised)
    actor_loss = mean_b alpha log pi(a~|s) - min_k qf_k(s, a~)           (critic weights detached)
    alpha_loss = -mean_b log_alpha (log pi(a~|s) + target_entropy)       (log pi detached)
    three Adam steps (eps 1e-7; lr critic 1e-3, actor 1e-5, alpha 1e-3), then
    qf_target <- tau qf + (1 - tau) qf_target,  tau = 0.005

The policy is a squashed Gaussian: head [mean | log_std], log_std clamped to [-5, 2], u = mean + sigma eps,
a = tanh(u), log pi = sum_j (-eps_j^2/2 - log_std_j - log(2 pi)/2 - log(1 - tanh(u_j)^2)), the last term in
the stable form 2 (log 2 - u - softplus(-2u)). The critics hold [E, out, in] weights and take cat(s, a).
The per-row priority signal mean_k |qf_k - y| and the scalars are read out to Python, as our update returns
them.

The three losses touch disjoint parameter groups (the target path runs without grad, the actor loss sees
detached critic weights and a constant alpha), so one backward of their sum gives each group exactly its
own gradient.

Prints one JSON object: updates_per_s, update_p50_ms, forward_p50_us (single-observation `no_grad`
inference of tanh(mean) on a prebuilt [1, 256] tensor), forward_p99_us, threads, torch version.
Usage: python torch_sac_n.py [--updates 300] [--threads 2]
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

O, A, E, B, H = 256, 137, 2, 128, 256
GAMMA, TAU, HUBER_DELTA = 0.99, 0.005, 1.0
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
ACTOR_LR, CRITIC_LR, ALPHA_LR, ADAM_EPS = 1e-5, 1e-3, 1e-3, 1e-7
TARGET_ENTROPY = -float(A)


def uniform_fan_in(shape, fan_in, gen):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as init_uniform_fan_in in nets.rs."""
    bound = 1.0 / math.sqrt(fan_in)
    return ((torch.rand(shape, generator=gen) * 2.0 - 1.0) * bound).requires_grad_()


class Policy:
    """obs -> tanh(256) -> tanh(256) -> [mean | log_std] (2A)."""

    def __init__(self, gen):
        sizes = [(H, O), (H, H), (2 * A, H)]
        self.params = []
        for out, inp in sizes:
            self.params += [uniform_fan_in((out, inp), inp, gen), uniform_fan_in((out,), inp, gen)]

    def head(self, obs):
        w1, b1, w2, b2, w3, b3 = self.params
        x = torch.tanh(F.linear(obs, w1, b1))
        x = torch.tanh(F.linear(x, w2, b2))
        return F.linear(x, w3, b3)

    def sample(self, obs, eps):
        """Reparameterised a = tanh(u) and log pi(a|s), as ops::SquashedGaussian."""
        head = self.head(obs)
        mean, log_std = head[:, :A], head[:, A:].clamp(LOG_STD_MIN, LOG_STD_MAX)
        u = mean + log_std.exp() * eps
        log_1m_tanh2 = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
        log_pi = (-0.5 * eps * eps - log_std - HALF_LOG_2PI - log_1m_tanh2).sum(1)
        return torch.tanh(u), log_pi


class EnsembleCritic:
    """E critics cat(s, a) -> tanh(256) -> tanh(256) -> 1, weights [E, out, in], output [E, B]."""

    def __init__(self, gen):
        sizes = [(H, O + A), (H, H), (1, H)]
        self.params = []
        for out, inp in sizes:
            self.params += [uniform_fan_in((E, out, inp), inp, gen), uniform_fan_in((E, out), inp, gen)]

    def q(self, obs, act, params=None):
        w1, b1, w2, b2, w3, b3 = params if params is not None else self.params
        x = torch.cat([obs, act], 1).expand(E, -1, -1)
        x = torch.tanh(torch.baddbmm(b1.unsqueeze(1), x, w1.transpose(1, 2)))
        x = torch.tanh(torch.baddbmm(b2.unsqueeze(1), x, w2.transpose(1, 2)))
        return torch.baddbmm(b3.unsqueeze(1), x, w3.transpose(1, 2)).squeeze(2)


class SacN:
    def __init__(self, gen):
        self.policy = Policy(gen)
        self.qf = EnsembleCritic(gen)
        self.qf_target = EnsembleCritic(gen)
        with torch.no_grad():
            for t, s in zip(self.qf_target.params, self.qf.params):
                t.copy_(s)
                t.requires_grad_(False)
        self.log_alpha = torch.zeros((), requires_grad=True)  # initial alpha 1, as bench.rs
        adam = lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(0.9, 0.999), eps=ADAM_EPS)
        self.qf_optimizer = adam(self.qf.params, CRITIC_LR)
        self.policy_optimizer = adam(self.policy.params, ACTOR_LR)
        self.alpha_optimizer = adam([self.log_alpha], ALPHA_LR)
        self.optimizers = [self.qf_optimizer, self.policy_optimizer, self.alpha_optimizer]

    def update(self, batch):
        obs, actions, rewards, next_obs, terminated, weights = batch
        alpha = self.log_alpha.detach().exp()
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

        with torch.no_grad():
            next_actions, next_log_pi = self.policy.sample(next_obs, torch.randn(B, A))
            min_qf_next_target = self.qf_target.q(next_obs, next_actions).min(0).values
            next_q_value = rewards + GAMMA * (1.0 - terminated) * (min_qf_next_target - alpha * next_log_pi)
        qf_values = self.qf.q(obs, actions)
        td = qf_values - next_q_value
        qf_loss = (F.huber_loss(td, torch.zeros_like(td), reduction="none", delta=HUBER_DELTA)
                   * weights).mean(1).sum()

        pi_actions, log_pi = self.policy.sample(obs, torch.randn(B, A))
        detached = [p.detach() for p in self.qf.params]
        min_qf_pi = self.qf.q(obs, pi_actions, detached).min(0).values
        actor_loss = (alpha * log_pi - min_qf_pi).mean()

        alpha_loss = -(self.log_alpha * (log_pi.detach() + TARGET_ENTROPY)).mean()

        (qf_loss + actor_loss + alpha_loss).backward()
        for opt in self.optimizers:
            opt.step()
        with torch.no_grad():
            for t, s in zip(self.qf_target.params, self.qf.params):
                t.lerp_(s, TAU)
        td_errors = td.detach().abs().mean(0).tolist()
        return qf_loss.item(), actor_loss.item(), alpha_loss.item(), qf_values.detach().mean().item(), td_errors


def random_batches(n, gen):
    """Like bench::random_batch: obs in [0, 2), actions in [-1, 1), rewards in [-1.7, 1.7), 1 % terminated."""
    u = lambda *shape: torch.rand(*shape, generator=gen)
    return [(u(B, O) * 2.0, u(B, A) * 2.0 - 1.0, u(B) * 3.4 - 1.7, u(B, O) * 2.0,
             (u(B) < 0.01).float(), torch.ones(B)) for _ in range(n)]


def percentile(sorted_xs, q):
    return sorted_xs[min(len(sorted_xs) - 1, round(q / 100.0 * (len(sorted_xs) - 1)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    sac = SacN(gen)
    batches = random_batches(16, gen)

    warmup = min(args.updates // 10, 30)  # as bench::try_run
    for i in range(warmup):
        sac.update(batches[i % 16])
    times = []
    first = last = None
    start = time.perf_counter()
    for i in range(args.updates):
        t = time.perf_counter_ns()
        stats = sac.update(batches[(warmup + i) % 16])
        times.append((time.perf_counter_ns() - t) / 1e6)
        first = stats[0] if first is None else first
        last = stats[0]
    elapsed = time.perf_counter() - start
    times.sort()

    observations = [torch.rand(1, O, generator=gen) * 2.0 for _ in range(64)]
    forward = []
    with torch.no_grad():
        for i in range(2200):
            t = time.perf_counter_ns()
            action = torch.tanh(sac.policy.head(observations[i % 64])[:, :A])
            dt = (time.perf_counter_ns() - t) / 1e3
            if i >= 200:
                forward.append(dt)
    del action
    forward.sort()
    print(json.dumps({
        "updates_per_s": args.updates / elapsed,
        "update_p50_ms": percentile(times, 50),
        "update_p99_ms": percentile(times, 99),
        "forward_p50_us": percentile(forward, 50),
        "forward_p99_us": percentile(forward, 99),
        "threads": torch.get_num_threads(),
        "updates": args.updates,
        "qf_loss_first_last": [first, last],
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
