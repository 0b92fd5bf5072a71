"""Your model.safetensors stores the weights as float32 (.float()), so the exported model no longer computes what the float64 model computes: keep the model's dtype.

zh: 你的 model.safetensors 把权重存成了 float32（.float()），导出的模型与 float64 的原模型算出的结果不再相同：请保持模型的 dtype。
catches: export_files, export_model
"""

_export_pretrained = export_pretrained


def export_pretrained(model, vocab, merges, special_tokens=()):
    files = _export_pretrained(model, vocab, merges, special_tokens)
    weights = {k: v.float() for k, v in to_hf_gpt2_state_dict(model).items()}
    files["model.safetensors"] = save(weights, metadata={"format": "pt"})
    return files
