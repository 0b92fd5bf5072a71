"""Your AdamW.step reads lr and weight_decay from self.defaults (the constructor's values) instead of from each param group, so per-group settings and a learning-rate schedule that sets group["lr"] are ignored.

zh: 你的 AdamW.step 从 self.defaults（构造时的值）读取 lr 和 weight_decay，而不是从每个 param group 读取，所以分组设置以及修改 group["lr"] 的学习率调度都不起作用。
catches: adamw_param_groups
"""

import torch


class AdamW(AdamW):  # the reference's class: only step() differs
    @torch.no_grad()
    def step(self, closure=None):
        lr, (beta1, beta2) = self.defaults["lr"], self.defaults["betas"]
        eps, wd = self.defaults["eps"], self.defaults["weight_decay"]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                p.mul_(1 - lr * wd)
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                p.sub_(lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps))
        return None
