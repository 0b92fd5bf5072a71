"""Your BERT export puts k_proj under attention.self.query and q_proj under attention.self.key.

zh: 你导出 BERT 时把 k_proj 放到了 attention.self.query，把 q_proj 放到了 attention.self.key。
catches: bert_names, bert_hidden_states
"""

_to_hf_bert_state_dict = to_hf_bert_state_dict


def to_hf_bert_state_dict(model):
    sd = _to_hf_bert_state_dict(model)
    for i, block in enumerate(model.blocks):
        p = f"encoder.layer.{i}.attention.self."
        sd[p + "query.weight"] = block.attn.k_proj.weight.detach().clone()
        sd[p + "query.bias"] = block.attn.k_proj.bias.detach().clone()
        sd[p + "key.weight"] = block.attn.q_proj.weight.detach().clone()
        sd[p + "key.bias"] = block.attn.q_proj.bias.detach().clone()
    return sd
