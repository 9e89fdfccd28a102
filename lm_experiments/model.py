"""Causal LMs built from HF `transformers` configs, never downloaded: presets, or a local checkpoint folder.

Presets (the vocabulary size comes from the tokenizer):
  tiny                CPU: Qwen2 family, hidden 128, 2 layers (1.4M parameters at vocab 8192, 0.4M non-embedding)
  small               Qwen2 family, hidden 512, 6 layers (~19M non-embedding)
  gpt-125m            Llama family, GPT-2-small shape: hidden 768, 12 layers, 12 heads
  openelm-270m-like   Llama family, hidden 1024, 16 layers, 16 heads, untied output (~270M at vocab 32k)
  qwen2-0.5b-like     Qwen2-0.5B's shape: hidden 896, 24 layers, 14 heads (2 KV), MLP 4864, tied embeddings
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from theory.problem import InputError

PRESETS = {
    "tiny": ("qwen2", dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           intermediate_size=384, tie_word_embeddings=True)),
    "small": ("qwen2", dict(hidden_size=512, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=4,
                            intermediate_size=1536, tie_word_embeddings=True)),
    "gpt-125m": ("llama", dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               num_key_value_heads=12, intermediate_size=2048, tie_word_embeddings=True)),
    "openelm-270m-like": ("llama", dict(hidden_size=1024, num_hidden_layers=16, num_attention_heads=16,
                                        num_key_value_heads=4, intermediate_size=2816, tie_word_embeddings=False)),
    "qwen2-0.5b-like": ("qwen2", dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                                      num_key_value_heads=2, intermediate_size=4864, tie_word_embeddings=True)),
}
DECAY_MODES = ("all", "no-norm-bias", "no-embed", "no-embed-out")


def build_model(preset: str, vocab_size: int, seq_len: int, seed: int) -> nn.Module:
    """A freshly initialised causal LM (seeded), or the model saved in a local folder (continued training)."""
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    if Path(preset).is_dir():
        model = AutoModelForCausalLM.from_pretrained(preset, local_files_only=True)
        if model.config.vocab_size != vocab_size:
            raise InputError(f"checkpoint {preset!r} has vocab_size {model.config.vocab_size}, the data {vocab_size}")
        return model
    if preset not in PRESETS:
        raise InputError(f"unknown model preset {preset!r}; allowed: {', '.join(PRESETS)} or a local checkpoint folder")
    family, kw = PRESETS[preset]
    cls = Qwen2Config if family == "qwen2" else LlamaConfig
    config = cls(vocab_size=vocab_size, max_position_embeddings=max(seq_len, 128), **kw)
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def n_params(model: nn.Module, non_embedding: bool = False) -> int:
    skip = {id(p) for p in model.get_input_embeddings().parameters()} if non_embedding else set()
    if non_embedding and model.get_output_embeddings() is not None:
        skip |= {id(p) for p in model.get_output_embeddings().parameters()}
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values() if id(p) not in skip)


def decay_groups(model: nn.Module, mode: str, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: which parameters weight decay touches.

    all           every parameter
    no-norm-bias  all but normalisation weights and biases (the usual LLM recipe; the default)
    no-embed      additionally not the input embedding
    no-embed-out  additionally not the output layer (lm_head)
    With tied embeddings the input embedding IS the output layer: no-embed and no-embed-out then both
    exempt that shared matrix.
    """
    if mode not in DECAY_MODES:
        raise InputError(f"unknown decay mode {mode!r}; allowed: {', '.join(DECAY_MODES)}")
    norm_or_bias = set()
    for mname, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            if "Norm" in type(module).__name__ or pname.endswith("bias"):
                norm_or_bias.add(id(p))
    embed = {id(p) for p in model.get_input_embeddings().parameters()}
    out = {id(p) for p in model.get_output_embeddings().parameters()} if model.get_output_embeddings() else set()
    exempt = set()
    if mode != "all":
        exempt |= norm_or_bias
    if mode in ("no-embed", "no-embed-out"):
        exempt |= embed
    if mode == "no-embed-out":
        exempt |= out
    params = {id(p): p for p in model.parameters() if p.requires_grad}
    decay = [p for i, p in params.items() if i not in exempt]
    no_decay = [p for i, p in params.items() if i in exempt]
    return [g for g in ({"params": decay, "weight_decay": weight_decay},
                        {"params": no_decay, "weight_decay": 0.0}) if g["params"]]


def flops_per_token(model: nn.Module, seq_len: int) -> float:
    """Training FLOPs per token: 6 N (N = non-embedding parameters + the output layer's matmul) plus the
    attention scores and weighted sums, 6 * 2 * n_layers * hidden * seq_len / 2 with causal masking counted in
    full as PaLM's appendix does: 12 * n_layers * hidden * seq_len."""
    cfg = model.config
    n = n_params(model, non_embedding=True) + cfg.vocab_size * cfg.hidden_size  # the lm_head matmul
    return 6.0 * n + 12.0 * cfg.num_hidden_layers * cfg.hidden_size * seq_len
