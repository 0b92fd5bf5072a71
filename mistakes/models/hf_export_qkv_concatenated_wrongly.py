"""Your GPT-2 export concatenates the q, k, v weights along the input dim, so c_attn has the right shape (D, 3D) but every block is untransposed.

zh: 你导出 c_attn 时沿输入维拼接了 q、k、v 的权重：形状 (D, 3D) 虽然对，但每一块都没有转置；应沿输出维拼接后再转置。
catches: hf_export
"""

import torch


def to_hf_gpt2_state_dict(model):
    sd = {
        "transformer.wte.weight": model.tok_emb.weight,
        "transformer.wpe.weight": model.pos_emb.weight,
    }
    for i, block in enumerate(model.blocks):
        p, attn, ffn = f"transformer.h.{i}.", block.attn, block.ffn
        sd[p + "ln_1.weight"], sd[p + "ln_1.bias"] = block.ln1.weight, block.ln1.bias
        sd[p + "attn.c_attn.weight"] = torch.cat(
            [attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight], dim=1
        )
        sd[p + "attn.c_attn.bias"] = torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias])
        sd[p + "attn.c_proj.weight"] = attn.o_proj.weight.T
        sd[p + "attn.c_proj.bias"] = attn.o_proj.bias
        sd[p + "ln_2.weight"], sd[p + "ln_2.bias"] = block.ln2.weight, block.ln2.bias
        sd[p + "mlp.c_fc.weight"] = ffn.up.weight.T
        sd[p + "mlp.c_fc.bias"] = ffn.up.bias
        sd[p + "mlp.c_proj.weight"] = ffn.down.weight.T
        sd[p + "mlp.c_proj.bias"] = ffn.down.bias
    sd["transformer.ln_f.weight"] = model.ln_f.weight
    sd["transformer.ln_f.bias"] = model.ln_f.bias
    sd["lm_head.weight"] = model.lm_head.proj.weight
    return {k: v.detach().contiguous().clone() for k, v in sd.items()}
