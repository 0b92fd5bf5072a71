"""Your AdamW adds weight_decay * p to the gradient (L2 regularisation, i.e. Adam with weight decay); AdamW decouples it: p = p * (1 - lr * weight_decay), separately from the Adam update.

zh: 你的 AdamW 把 weight_decay * p 加进了梯度（L2 正则，也就是 Adam 的 weight decay）；AdamW 的衰减是解耦的：p = p * (1 - lr * weight_decay)，与 Adam 的更新分开。
catches: adamw_step, adamw_param_groups
"""

import torch


class AdamW(AdamW):  # the reference's class: only step() differs
    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            eps, wd = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + wd * p
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                p.sub_(lr * (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt() + eps))
        return None
