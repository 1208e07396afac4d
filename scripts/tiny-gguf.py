#!/usr/bin/env python3
"""Writes a tiny llama-architecture GGUF model for tests (well under 1 MB).

Two layers, 64-wide embeddings, a byte-level SentencePiece-style vocabulary (<unk>, <s>,
</s> and the 256 byte tokens) and a simple chat template. The weights come from a fixed
seed, so greedy decoding (temperature 0) is deterministic: the tests compare what
codex-wrap streams with what the same server returns unstreamed.

usage: tiny-gguf.py OUT.gguf
"""
import sys

import numpy as np
import gguf

out = sys.argv[1]
rng = np.random.default_rng(1234)
n_vocab, n_embd, n_ff, n_layer, n_head = 259, 64, 128, 2, 4

w = gguf.GGUFWriter(out, "llama")
w.add_name("codex-wrap-tiny")
w.add_context_length(4096)
w.add_embedding_length(n_embd)
w.add_block_count(n_layer)
w.add_feed_forward_length(n_ff)
w.add_head_count(n_head)
w.add_head_count_kv(n_head)
w.add_rope_dimension_count(n_embd // n_head)
w.add_layer_norm_rms_eps(1e-5)
w.add_file_type(gguf.LlamaFileType.ALL_F32)

tokens = [b"<unk>", b"<s>", b"</s>"] + [f"<0x{i:02X}>".encode() for i in range(256)]
types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [
    gguf.TokenType.BYTE
] * 256
w.add_tokenizer_model("llama")
w.add_token_list(tokens)
w.add_token_scores([0.0] * n_vocab)
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_unk_token_id(0)
w.add_add_bos_token(True)
w.add_chat_template(
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def t(name, *shape, scale=0.2):
    w.add_tensor(name, (rng.standard_normal(shape) * scale).astype(np.float32))


t("token_embd.weight", n_vocab, n_embd)
for i in range(n_layer):
    w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
    t(f"blk.{i}.attn_q.weight", n_embd, n_embd)
    t(f"blk.{i}.attn_k.weight", n_embd, n_embd)
    t(f"blk.{i}.attn_v.weight", n_embd, n_embd)
    t(f"blk.{i}.attn_output.weight", n_embd, n_embd)
    w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
    t(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
    t(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
    t(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
# Only lower-case letters and the space can win: every other output row is zero (logit 0)
# while theirs are random, and the largest of 27 random logits is positive in practice.
# Greedy replies are then plain ASCII text that never ends on its own (max_tokens ends it).
head = np.zeros((n_vocab, n_embd), dtype=np.float32)
for b in list(range(ord("a"), ord("z") + 1)) + [ord(" ")]:
    head[3 + b] = rng.standard_normal(n_embd).astype(np.float32)
w.add_tensor("output.weight", head)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
