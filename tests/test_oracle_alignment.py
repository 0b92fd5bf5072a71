"""Oracle tests for solutions/alignment.py.

Oracles nobody on the team wrote:
- 🤗 transformers ``apply_chat_template`` with a Jinja template equivalent to CHAT_TEMPLATE
  (the assistant's content and ``<|end|>`` inside ``{% generation %}``), on a character-level
  ``PreTrainedTokenizerFast`` built offline from the ``tokenizers`` package (the markers are
  special tokens): the formatted text equals ``format_chat``; the ids equal
  ``build_sft_example``'s with the tokenizer as ``encode``, and ``return_assistant_tokens_mask``
  marks exactly the tokens whose label is not -100; unknown roles are refused by both;
- trl's trainers, called on stand-ins for the model and the trainer state (no training, no
  download), in float64: ``RewardTrainer.compute_loss`` (with and without margin),
  ``DPOTrainer._compute_loss`` (loss_type "sigmoid", precomputed reference log-probabilities)
  and its logged rewards, ``GRPOTrainer._compute_loss`` (loss_type "bnpo": token-level,
  pooled over the batch; beta 0; two-sided clip), and trl's ``nanstd`` for GRPO's group
  advantages (its formula ``(r - group mean) / (std + 1e-4)`` is inline in the trainer;
  ``nanstd`` rounds Bessel's correction to float32, so that comparison allows 1e-6).
Each part is skipped with a reason when its package is missing, or when this trl version's
trainer needs more of the stand-in than the test provides.
"""

from __future__ import annotations

import types
from collections import defaultdict

import alignment
import pytest
import torch

# --- transformers apply_chat_template --------------------------------------------------------------

MARKERS = ["<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
JINJA = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('unknown role ' + message['role']) }}"
    "{%- endif -%}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}"
    "{%- else -%}"
    "{{ message['content'] + '<|end|>' }}"
    "{%- endif -%}"
    "{{ '\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>\n' }}{%- endif -%}"
)
CONVERSATIONS = [
    [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi!"}],
    [{"role": "system", "content": "be brief."}, {"role": "user", "content": "词向量是什么？"},
     {"role": "assistant", "content": "用向量表示词。"}, {"role": "user", "content": "ok."},
     {"role": "assistant", "content": "a {b} c"}],
    [{"role": "user", "content": "sort dbf"}, {"role": "assistant", "content": ""}],
    [{"role": "user", "content": "what is a word vector?"}],
]
CHARS = sorted(set("\nabcdefghijklmnopqrstuvwxyz " + "".join(m["content"] for c in CONVERSATIONS for m in c)))


@pytest.fixture(scope="module")
def hf_tokenizer():
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is not installed")
    pytest.importorskip("jinja2", reason="jinja2 (for chat templates) is not installed")
    from tokenizers import Regex, pre_tokenizers
    from tokenizers.models import WordLevel

    vocab = {t: i for i, t in enumerate(MARKERS + CHARS)}
    tok = tokenizers.Tokenizer(WordLevel(vocab, unk_token="<|pad|>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")   # one token per character
    tok.add_special_tokens(MARKERS)
    hf = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>",
                                              additional_special_tokens=MARKERS[1:])
    hf.chat_template = JINJA
    text = "<|user|>\n词a<|end|>\n"
    assert hf.convert_ids_to_tokens(hf.encode(text, add_special_tokens=False)) == \
        ["<|user|>", "\n", "词", "a", "<|end|>", "\n"]
    return hf


def _encode(hf):
    return lambda text: hf.encode(text, add_special_tokens=False)


@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("generation_prompt", [False, True])
def test_format_chat_matches_apply_chat_template(hf_tokenizer, messages, generation_prompt):
    want = hf_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    assert alignment.format_chat(messages, add_generation_prompt=generation_prompt) == want


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_sft_labels_match_the_assistant_tokens_mask(hf_tokenizer, messages):
    out = hf_tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                           return_assistant_tokens_mask=True)
    ids, labels = alignment.build_sft_example(messages, _encode(hf_tokenizer))
    assert ids.dtype == labels.dtype == torch.long
    assert ids.tolist() == list(out["input_ids"])
    mask = torch.tensor(out["assistant_masks"], dtype=torch.bool)
    assert torch.equal(labels, torch.where(mask, ids, -100))
    # the character-level encoder of the checks gives the same ids as the 🤗 tokenizer
    from grader.protocol.values import CharEncoder

    encode = CharEncoder(hf_tokenizer.get_vocab())
    assert torch.equal(alignment.build_sft_example(messages, encode)[0], ids)


def test_collated_labels_match_the_assistant_tokens_mask(hf_tokenizer):
    examples = [alignment.build_sft_example(m, _encode(hf_tokenizer)) for m in CONVERSATIONS]
    ids, labels, mask = alignment.collate(examples, hf_tokenizer.pad_token_id)
    for b, messages in enumerate(CONVERSATIONS):
        out = hf_tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                               return_assistant_tokens_mask=True)
        n = len(out["input_ids"])
        assert ids[b, :n].tolist() == list(out["input_ids"]) and (ids[b, n:] == hf_tokenizer.pad_token_id).all()
        assert mask[b, :n].all() and not mask[b, n:].any()
        assistant = torch.tensor(out["assistant_masks"], dtype=torch.bool)
        assert torch.equal(labels[b, :n] != -100, assistant) and (labels[b, n:] == -100).all()


def test_unknown_roles_are_refused_by_both(hf_tokenizer):
    import jinja2

    bad = [{"role": "user", "content": "hi"}, {"role": "tool", "content": "ok"}]
    with pytest.raises(jinja2.TemplateError):
        hf_tokenizer.apply_chat_template(bad, tokenize=False)
    with pytest.raises(ValueError):
        alignment.format_chat(bad)
    with pytest.raises(ValueError):
        alignment.build_sft_example(bad, _encode(hf_tokenizer))


# --- trl's loss formulas ---------------------------------------------------------------------------


class _Accelerator:
    device = torch.device("cpu")
    num_processes = 1
    sync_gradients = True

    def gather(self, x):
        return x

    gather_for_metrics = gather

    def reduce(self, x, reduction="sum"):
        return x


def _trainer_state(**attrs):
    """What a trl trainer's loss method reads from ``self``, for one process, in eval mode."""
    state = types.SimpleNamespace(
        accelerator=_Accelerator(), model=torch.nn.Module().eval(), _metrics=defaultdict(lambda: defaultdict(list)),
        _total_train_tokens=0, _tp_size=1, aux_loss_enabled=False, current_gradient_accumulation_steps=1,
    )
    for k, v in attrs.items():
        setattr(state, k, v)
    return state


def _call(method, *args):
    """Run a trl trainer method on the stand-in; skip (not fail) when this trl needs more of it."""
    try:
        return method(*args)
    except (AttributeError, KeyError, TypeError) as err:
        import trl

        pytest.skip(f"trl {trl.__version__}'s {method.__qualname__} needs more than the test's stand-in: "
                    f"{type(err).__name__}: {err}")


def _rand(*shape, seed=0, scale=3.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


@pytest.mark.parametrize("with_margin", [False, True])
def test_reward_model_loss_matches_trl_reward_trainer(with_margin):
    pytest.importorskip("trl", reason="trl is not installed (pip install trl)")
    from trl import RewardTrainer

    chosen, rejected = _rand(6, seed=1), _rand(6, seed=2)
    chosen[0], rejected[0] = 800.0, -800.0                               # large differences, both ways
    chosen[1], rejected[1] = -800.0, 800.0
    margin = _rand(6, seed=3, scale=1.0).abs() if with_margin else None
    rewards = torch.cat([chosen, rejected])[:, None]                     # trl's batch: [chosen; rejected]

    def model(**_):
        return types.SimpleNamespace(logits=rewards)

    inputs = {"attention_mask": torch.ones(12, 3, dtype=torch.long)}
    if with_margin:
        inputs["margin"] = margin
    state = _trainer_state(args=types.SimpleNamespace(center_rewards_coefficient=None))
    want = _call(RewardTrainer.compute_loss, state, model, inputs)
    got = alignment.reward_model_loss(chosen, rejected, margin)
    assert got.dtype == torch.float64 and torch.isfinite(got)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def _dpo_inputs(pc, pr, rc, rr):
    """One completion token per sequence whose log-probability is the whole sequence's."""
    B = len(pc)
    return {
        "input_ids": torch.zeros(2 * B, 2, dtype=torch.long),
        "attention_mask": torch.ones(2 * B, 2, dtype=torch.long),
        "completion_mask": torch.tensor([[0, 1]] * (2 * B)),
        "ref_chosen_logps": rc, "ref_rejected_logps": rr,
    }, torch.cat([pc, pr])[:, None]


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_dpo_loss_matches_trl_dpo_trainer_sigmoid(beta):
    pytest.importorskip("trl", reason="trl is not installed (pip install trl)")
    from trl import DPOTrainer

    ref = -(_rand(2, 5, seed=4).abs() * 5 + 5)
    pol = ref + _rand(2, 5, seed=5)
    pc, pr, rc, rr = pol[0], pol[1], ref[0], ref[1]
    pc = pc.clone()
    pc[0] = pc[0] + 300.0                                                # a large difference
    inputs, per_token = _dpo_inputs(pc, pr, rc, rr)
    n = per_token.shape[0]

    def model(**_):
        return types.SimpleNamespace(log_probs=per_token, entropy=torch.zeros(n, 1, dtype=torch.float64),
                                     mean_logits=torch.zeros(n, 1, dtype=torch.float64),
                                     is_top1=torch.zeros(n, 1, dtype=torch.bool))

    state = _trainer_state(beta=beta, ld_alpha=None, precompute_ref_logps=True, f_divergence_type="reverse_kl",
                           loss_types=["sigmoid"], loss_weights=[1.0], use_weighting=False, label_smoothing=0.0)
    want = _call(DPOTrainer._compute_loss, state, model, inputs, False)
    loss, chosen_rewards, rejected_rewards = alignment.dpo_loss(pc, pr, rc, rr, beta=beta)
    torch.testing.assert_close(loss, want, rtol=1e-12, atol=1e-12)
    # the rewards trl logs are beta * (policy - reference), detached, as ours
    m = state._metrics["eval"]
    torch.testing.assert_close(chosen_rewards.mean().item(), m["rewards/chosen"][0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(rejected_rewards.mean().item(), m["rewards/rejected"][0], rtol=1e-12, atol=1e-12)
    assert m["rewards/accuracies"][0] == (chosen_rewards > rejected_rewards).double().mean().item()
    assert not chosen_rewards.requires_grad and not rejected_rewards.requires_grad


@pytest.mark.parametrize("clip_eps", [0.1, 0.2, 0.3])
def test_ppo_clip_loss_matches_trl_grpo_trainer_bnpo(clip_eps):
    pytest.importorskip("trl", reason="trl is not installed (pip install trl)")
    from trl import GRPOTrainer

    B, T = 4, 6
    old = -_rand(B, T, seed=6).abs()
    logp = old + _rand(B, T, seed=7, scale=0.6)                          # ratios on both sides of the clip
    adv = _rand(B, seed=8, scale=2.0)
    adv[0], adv[1] = adv[0].abs() + 0.1, -adv[1].abs() - 0.1
    mask = torch.rand(B, T, generator=torch.Generator().manual_seed(9)) < 0.7
    mask[0], mask[1] = True, False
    mask[1, :2] = True                                                   # uneven counts per sequence
    inputs = {"prompt_ids": torch.zeros(B, 2, dtype=torch.long), "prompt_mask": torch.ones(B, 2, dtype=torch.long),
              "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask.long(),
              "advantages": adv, "old_per_token_logps": old}

    def per_token_logps(model, *args, **kwargs):
        return logp, torch.zeros_like(logp), None

    state = _trainer_state(
        _get_per_token_logps_and_entropies=per_token_logps, top_entropy_quantile=1.0, off_policy_mask_threshold=None,
        importance_sampling_level="token", beta=0.0, loss_type="bnpo", epsilon_low=clip_eps, epsilon_high=clip_eps,
        args=types.SimpleNamespace(delta=None), use_vllm=False, _entropy_bonus_enabled=False,
    )
    want = _call(GRPOTrainer._compute_loss, state, None, inputs)
    got = alignment.ppo_clip_loss(logp, old, adv, mask, clip_eps=clip_eps)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # trl's is token-pooled: not the mean of per-sequence means
    state.loss_type = "grpo"
    per_sequence = _call(GRPOTrainer._compute_loss, state, None, inputs)
    assert not torch.isclose(got, per_sequence)


def test_ppo_clip_loss_with_nothing_masked_matches_trl():
    pytest.importorskip("trl", reason="trl is not installed (pip install trl)")
    from trl import GRPOTrainer

    B, T = 2, 3
    logp, old = _rand(B, T, seed=10), _rand(B, T, seed=11)
    mask = torch.zeros(B, T, dtype=torch.bool)
    inputs = {"prompt_ids": torch.zeros(B, 1, dtype=torch.long), "prompt_mask": torch.ones(B, 1, dtype=torch.long),
              "completion_ids": torch.zeros(B, T, dtype=torch.long), "completion_mask": mask.long(),
              "advantages": _rand(B, seed=12), "old_per_token_logps": old}
    state = _trainer_state(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logp, torch.zeros_like(logp), None),
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level="token", beta=0.0,
        loss_type="bnpo", epsilon_low=0.2, epsilon_high=0.2, args=types.SimpleNamespace(delta=None), use_vllm=False,
        _entropy_bonus_enabled=False,
    )
    want = _call(GRPOTrainer._compute_loss, state, None, inputs)
    got = alignment.ppo_clip_loss(logp, old, inputs["advantages"], mask)
    assert got.item() == 0.0 and torch.equal(got, want.to(got.dtype))


@pytest.mark.parametrize("group_size", [1, 2, 4, 8])
def test_group_advantages_match_trl_grpo_formula(group_size):
    pytest.importorskip("trl", reason="trl is not installed (pip install trl)")
    from trl.trainer.utils import nanstd

    rewards = _rand(16, seed=13)
    rewards[:group_size] = 1.5                                           # a group with equal rewards
    grouped = rewards.view(-1, group_size)
    mean = grouped.mean(dim=1).repeat_interleave(group_size)
    std = (nanstd(grouped, dim=1).repeat_interleave(group_size) if group_size > 1
           else torch.zeros_like(rewards))                               # trl: no std for groups of one
    want = (rewards - mean) / (std + 1e-4)
    got = alignment.group_advantages(rewards, group_size)
    # nanstd computes Bessel's correction count / (count - 1) from integer counts in float32
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(alignment.group_advantages(rewards, group_size, normalize_std=False),
                               rewards - mean, rtol=1e-12, atol=1e-12)
