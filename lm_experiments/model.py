"""Causal LMs built from HF `transformers` configs, never downloaded: presets, or a local checkpoint folder.

Presets (the vocabulary size comes from the tokenizer; parameter counts at the vocabulary named):
  tiny                CPU: Qwen2 family, hidden 128, 2 layers, tied (1.44M at vocab 8192, 0.39M non-embedding)
  small               Qwen2 family, hidden 512, 8 layers, tied (29.4M at vocab 8192, 25.2M non-embedding)
  gpt-125m            Llama family, GPT-2-small shape: hidden 768, 12 layers, 12 heads, tied
                      (110M at vocab 32000, 124M at 50257; 85M non-embedding)
  openelm-270m-like   Llama family, hidden 1024, 16 layers, 16 heads (4 KV), MLP 3328, UNtied output layer,
                      so that "no-embed" and "no-embed-out" differ (271M at vocab 32000, 206M non-embedding)
  qwen2-0.5b-like     Qwen2-0.5B's shape: hidden 896, 24 layers, 14 heads (2 KV), MLP 4864, tied embeddings:
                      387M (0.39B) at vocab 32000, 358M
                      non-embedding; "0.5B" is Qwen2's count at its own vocab 151936 (494M)
Every model uses PyTorch's scaled-dot-product attention (attn_implementation="sdpa") and is initialised on
the CPU in float32 from `seed`, so the same seed gives the same initial weights on every device.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from plumbing.errors import InputError
from plumbing.validate import check_int

PRESETS = {
    "tiny": ("qwen2", dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           intermediate_size=384, tie_word_embeddings=True)),
    "small": ("qwen2", dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=4,
                            intermediate_size=1536, tie_word_embeddings=True)),
    "gpt-125m": ("llama", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               num_key_value_heads=12, intermediate_size=2048, tie_word_embeddings=True)),
    "openelm-270m-like": ("llama", dict(hidden_size=1024, num_hidden_layers=16, num_attention_heads=16,
                                        num_key_value_heads=4, intermediate_size=3328, tie_word_embeddings=False)),
    "qwen2-0.5b-like": ("qwen2", dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                                      num_key_value_heads=2, intermediate_size=4864, tie_word_embeddings=True)),
}


def model_config(preset: str, vocab_size: int, seq_len: int):
    """The transformers config of a preset (no weights): Qwen2Config or LlamaConfig."""
    from transformers import LlamaConfig, Qwen2Config

    if preset not in PRESETS:
        raise InputError(f"unknown model preset {preset!r}; allowed: {', '.join(PRESETS)} or a local checkpoint folder")
    check_int("vocab_size", vocab_size, 2, allow_numpy=False)
    check_int("seq_len", seq_len, 1, allow_numpy=False)
    family, kw = PRESETS[preset]
    cls = Qwen2Config if family == "qwen2" else LlamaConfig
    return cls(vocab_size=vocab_size, max_position_embeddings=max(seq_len, 128), **kw)


def build_model(preset_or_dir: str, vocab_size: int, seq_len: int, seed: int) -> nn.Module:
    """A freshly initialised causal LM (seeded; the caller's global RNG is left as it was), or the model saved
    in a local folder by `save_pretrained` (continued training; read with local_files_only, never downloaded)."""
    from transformers import AutoModelForCausalLM

    if preset_or_dir not in PRESETS and Path(str(preset_or_dir)).is_dir():  # a preset name wins over a folder
        try:
            model = AutoModelForCausalLM.from_pretrained(preset_or_dir, local_files_only=True,
                                                         attn_implementation="sdpa").float()
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot load a model from the folder {str(preset_or_dir)!r}: {exc}") from exc
        if model.config.vocab_size != vocab_size:
            raise InputError(f"checkpoint {str(preset_or_dir)!r} has vocab_size {model.config.vocab_size}, "
                             f"the data {vocab_size}")
        if getattr(model.config, "max_position_embeddings", seq_len) < seq_len:
            raise InputError(f"checkpoint {str(preset_or_dir)!r} allows at most "
                             f"{model.config.max_position_embeddings} positions, got seq_len {seq_len}")
        return model
    config = model_config(preset_or_dir, vocab_size, seq_len)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").float()


def embedding_ids(model: nn.Module) -> tuple[set, set]:
    """ids of the input-embedding parameters and of the output-layer parameters (the same tensor when tied)."""
    embed = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters(recurse=False)}
    head = model.get_output_embeddings()
    out = {id(p) for p in head.parameters()} if head is not None else set()
    return embed, out


def n_params(model: nn.Module, non_embedding: bool = False) -> int:
    """Distinct parameters (a tied matrix counted once); non_embedding drops the input embedding and the
    output layer."""
    params = {id(p): p for p in model.parameters()}
    skip = set().union(*embedding_ids(model)) if non_embedding else set()
    return sum(p.numel() for i, p in params.items() if i not in skip)


def flops_per_token(model_or_config, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward) = 6 N + 12 L d T, the PaLM-appendix count.

    N = the parameters that do matrix work per token: every non-embedding parameter plus the output layer's
    V x d matmul (counted even when tied; the input-embedding lookup is free). 12 L d T is the attention
    scores and weighted sums (2 matmuls of 2 d T FLOPs each per layer forward, x3 for the backward), with
    the causal mask not discounted (as PaLM counts it). L = layers, d = hidden size, T = seq_len.
    Computed from the config alone (a model or its config may be passed), so it needs no weights.
    """
    c = getattr(model_or_config, "config", model_or_config)
    d, L, V = c.hidden_size, c.num_hidden_layers, c.vocab_size
    heads = c.num_attention_heads
    kv = getattr(c, "num_key_value_heads", None) or heads
    head_dim = getattr(c, "head_dim", None) or d // heads
    attn = d * heads * head_dim * 2 + d * kv * head_dim * 2  # q, o and k, v projections
    mlp = 3 * d * c.intermediate_size  # gated MLP: gate, up, down
    n = L * (attn + mlp) + V * d
    return 6.0 * n + 12.0 * L * d * seq_len
