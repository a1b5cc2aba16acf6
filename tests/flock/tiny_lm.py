"""A tiny random Llama with a byte-level BPE tokenizer and a ChatML chat template, built in seconds.

Shared by the fine-tuning, evaluation and FLock workflow tests: nothing is
downloaded, and the model is small enough to train a few steps in well under
a second with one thread.
"""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "SELECT COUNT(*) FROM people WHERE age > 30",
    "SELECT name, age FROM people ORDER BY age DESC LIMIT 3",
    "SELECT AVG(salary) FROM people GROUP BY city",
    "How many people are older than thirty? What is the average salary per city?",
    "You are a helpful assistant. Database schema: CREATE TABLE people (name TEXT, age INTEGER, city TEXT);",
    "system user assistant Question: Answer: The capital of France is Paris.",
]


def build_tokenizer(folder: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 5, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHATML
    fast.save_pretrained(str(folder))
    return fast


def build_tiny_model(folder: Path, *, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Write a random LlamaForCausalLM and its tokenizer to ``folder`` and return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None, tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(str(folder))
    return folder


def sql_conversations(n: int = 24) -> list[dict]:
    """Small FLock-format Text-to-SQL conversations (two repeating answers, easy to learn)."""
    questions = [("How many people are older than {k}?", "SELECT COUNT(*) FROM people WHERE age > {k}"),
                 ("List the names of people in city {k}.", "SELECT name FROM people WHERE city = 'c{k}'")]
    out = []
    for i in range(n):
        q, a = questions[i % 2]
        k = 20 + i
        out.append({"system": "You are a helpful assistant.",
                    "conversations": [{"role": "user", "content": q.format(k=k)},
                                      {"role": "assistant", "content": a.format(k=k)}]})
    return out
