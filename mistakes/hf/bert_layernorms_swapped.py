"""Your BERT export swaps the two LayerNorms of a block: attention.output.LayerNorm is the one after attention (ln1), output.LayerNorm the one after the FFN (ln2).

zh: 你导出 BERT 时把块里的两个 LayerNorm 弄反了：attention.output.LayerNorm 是注意力之后的那个（ln1），output.LayerNorm 是 FFN 之后的那个（ln2）。
catches: bert_names, bert_hidden_states
"""


def to_hf_bert_state_dict(model):
    w = model.tok_emb.weight
    sd = {
        "embeddings.word_embeddings.weight": w,
        "embeddings.position_embeddings.weight": model.pos_emb.weight,
        "embeddings.token_type_embeddings.weight": torch.zeros(1, w.shape[1], dtype=w.dtype),
        "embeddings.LayerNorm.weight": model.ln_emb.weight,
        "embeddings.LayerNorm.bias": model.ln_emb.bias,
    }
    for i, block in enumerate(model.blocks):
        layers = {
            "attention.self.query": block.attn.q_proj,
            "attention.self.key": block.attn.k_proj,
            "attention.self.value": block.attn.v_proj,
            "attention.output.dense": block.attn.o_proj,
            "attention.output.LayerNorm": block.ln2,
            "intermediate.dense": block.ffn.up,
            "output.dense": block.ffn.down,
            "output.LayerNorm": block.ln1,
        }
        for name, layer in layers.items():
            sd[f"encoder.layer.{i}.{name}.weight"] = layer.weight
            sd[f"encoder.layer.{i}.{name}.bias"] = layer.bias
    return {k: v.detach().clone() for k, v in sd.items()}
