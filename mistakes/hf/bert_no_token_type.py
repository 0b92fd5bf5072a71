"""Your BERT export leaves out embeddings.token_type_embeddings.weight: BertModel always adds a token-type (segment) embedding, so give it zeros of shape (1, D).

zh: 你导出 BERT 时漏掉了 embeddings.token_type_embeddings.weight：BertModel 总会加上 token type（句段）向量，请给它形状为 (1, D) 的全零张量。
catches: bert_names, bert_hidden_states
"""

_to_hf_bert_state_dict = to_hf_bert_state_dict


def to_hf_bert_state_dict(model):
    sd = _to_hf_bert_state_dict(model)
    del sd["embeddings.token_type_embeddings.weight"]
    return sd
