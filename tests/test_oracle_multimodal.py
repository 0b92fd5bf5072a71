"""The multimodal reference against implementations nobody on the team wrote:

- PatchEmbedding against the patches cut out by ``F.unfold`` (which lists each patch as
  channel-major, row-major pixels, patches in row-major order) times the conv weight as a
  linear layer, forward and backward; and against transformers' ``ViTPatchEmbeddings`` and
  CLIP's vision ``patch_embedding`` with the same weights;
- clip_loss against transformers' ``image_text_contrastive_loss`` (``clip_loss`` before
  transformers 5) and against a whole tiny ``CLIPModel(return_loss=True)``: the loss and the
  gradient that reaches its ``logit_scale``;
- zero_shot_classify against ``F.cosine_similarity``.
"""

from __future__ import annotations

import math

import multimodal
import pytest
import torch
import torch.nn.functional as F

TOL = {"rtol": 1e-10, "atol": 1e-12}


def _hf_contrastive_loss():
    modeling_clip = pytest.importorskip("transformers.models.clip.modeling_clip",
                                        reason="the hf extra (transformers) is not installed")
    fn = getattr(modeling_clip, "image_text_contrastive_loss", None) or modeling_clip.clip_loss
    return fn


@pytest.mark.parametrize("S,p,C,D,B", [(8, 4, 3, 5, 2), (6, 2, 1, 4, 3), (12, 3, 2, 7, 1)])
def test_patch_embedding_equals_unfold_and_linear(S, p, C, D, B):
    torch.manual_seed(0)
    pe = multimodal.PatchEmbedding(S, p, C, D).double()
    images = torch.randn(B, C, S, S, dtype=torch.float64, requires_grad=True)
    out = pe(images)
    cols = F.unfold(images, kernel_size=p, stride=p)                     # (B, C·p·p, N)
    want = cols.transpose(1, 2) @ pe.proj.weight.reshape(D, -1).T + pe.proj.bias
    torch.testing.assert_close(out, want, **TOL)
    assert out.shape == (B, (S // p) ** 2, D) and pe.num_patches == (S // p) ** 2
    up = torch.randn_like(out)
    g_ours = torch.autograd.grad((out * up).sum(), [images, pe.proj.weight, pe.proj.bias])
    g_ref = torch.autograd.grad((want * up).sum(), [images, pe.proj.weight, pe.proj.bias])
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, **TOL)


def test_patch_embedding_row_major_by_hand():
    """Patch 1 is the top row's second patch, not the left column's second one."""
    pe = multimodal.PatchEmbedding(4, 2, 1, 1).double()
    with torch.no_grad():
        pe.proj.weight.fill_(1.0)
        pe.proj.bias.zero_()
    image = torch.arange(16, dtype=torch.float64).reshape(1, 1, 4, 4)
    # patches (sums of their 2 x 2 pixels): top-left 0+1+4+5, top-right 2+3+6+7, ...
    assert pe(image).flatten().tolist() == [10.0, 18.0, 42.0, 50.0]


def test_patch_embedding_rejects_uneven_patches():
    with pytest.raises(ValueError):
        multimodal.PatchEmbedding(10, 3, 3, 8)


def test_patch_embedding_equals_transformers_vit_and_clip():
    pytest.importorskip("transformers", reason="the hf extra (transformers) is not installed")
    from transformers import CLIPVisionConfig, ViTConfig
    from transformers.models.clip.modeling_clip import CLIPVisionEmbeddings
    from transformers.models.vit.modeling_vit import ViTPatchEmbeddings

    torch.manual_seed(1)
    pe = multimodal.PatchEmbedding(12, 4, 3, 8).double()
    images = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    vit = ViTPatchEmbeddings(ViTConfig(image_size=12, patch_size=4, num_channels=3, hidden_size=8, num_attention_heads=2)).double()
    vit.projection.load_state_dict(pe.proj.state_dict())
    torch.testing.assert_close(pe(images), vit(images), **TOL)
    clip = CLIPVisionEmbeddings(CLIPVisionConfig(image_size=12, patch_size=4, num_channels=3, hidden_size=8,
                                                 num_attention_heads=2)).double()
    with torch.no_grad():
        clip.patch_embedding.weight.copy_(pe.proj.weight)   # CLIP's patch projection has no bias
        pe.proj.bias.zero_()
    torch.testing.assert_close(pe(images), clip.patch_embedding(images).flatten(2).transpose(1, 2), **TOL)


@pytest.mark.parametrize("B,D", [(5, 7), (1, 3), (8, 2)])
def test_clip_loss_equals_transformers(B, D):
    hf_loss = _hf_contrastive_loss()
    torch.manual_seed(B)
    img = torch.randn(B, D, dtype=torch.float64) * 3
    txt = torch.randn(B, D, dtype=torch.float64) * 0.5
    for scale in (math.log(1 / 0.07), torch.tensor(0.3, dtype=torch.float64)):
        s = torch.as_tensor(scale, dtype=torch.float64)
        logits_per_text = s.exp() * F.normalize(txt, dim=-1) @ F.normalize(img, dim=-1).T
        torch.testing.assert_close(multimodal.clip_loss(img, txt, scale), hf_loss(logits_per_text), **TOL)


def test_clip_loss_equals_a_tiny_clip_model_with_its_gradient():
    pytest.importorskip("transformers", reason="the hf extra (transformers) is not installed")
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        text_config={"vocab_size": 20, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 8, "projection_dim": 12},
        vision_config={"image_size": 8, "patch_size": 4, "hidden_size": 16, "intermediate_size": 32,
                       "num_hidden_layers": 1, "num_attention_heads": 2, "projection_dim": 12},
        projection_dim=12)
    torch.manual_seed(2)
    model = CLIPModel(config).double()
    pixels = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    ids = torch.randint(0, 20, (4, 6))
    out = model(input_ids=ids, pixel_values=pixels, return_loss=True)
    ours = multimodal.clip_loss(out.image_embeds, out.text_embeds, model.logit_scale)
    torch.testing.assert_close(ours, out.loss, **TOL)
    (g_hf,) = torch.autograd.grad(out.loss, [model.logit_scale], retain_graph=True)
    (g_ours,) = torch.autograd.grad(ours, [model.logit_scale])
    torch.testing.assert_close(g_ours, g_hf, **TOL)


def test_zero_shot_equals_cosine_argmax():
    torch.manual_seed(3)
    img = torch.randn(20, 6, dtype=torch.float64)
    cls = torch.randn(5, 6, dtype=torch.float64) * torch.logspace(-1, 1, 5, dtype=torch.float64)[:, None]
    want = F.cosine_similarity(img[:, None, :], cls[None, :, :], dim=-1).argmax(-1)
    got = multimodal.zero_shot_classify(img, cls)
    assert got.dtype == torch.long and torch.equal(got, want)
