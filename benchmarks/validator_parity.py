"""Validator parity: Synthera's ``--validator-parity`` loss against FLock's recipe run under transformers 4.49.

FLock's loss validator pins transformers 4.49.0; Synthera runs whatever is installed (5.x). This benchmark builds
a tiny random Llama (fixed seed, byte-level BPE tokenizer whose config asks for ``clean_up_tokenization_spaces``,
as Llama-3's does), a random LoRA adapter (seeded, both matrices non-zero) and three FLock-format validation
files, then scores each file per validator template twice:

- ours: ``load_model_with_adapter(fp16=True)`` + ``validator_loss(parity=True)`` in .venv (the path behind
  ``synthera text evaluate --validator-parity``; on a CPU it stays fp32, as the validator's CPU config does);
- theirs: benchmarks/peers/validator_loss_tf449.py in benchmarks/.venv-tf449 (transformers 4.49.0, peft 0.14.0,
  ``Trainer.evaluate`` at batch size 1, fp32 on CPU), written from the validator's described behaviour.

It reports max |difference| of the loss and of bits per byte per file and overall (target: <= 1e-6), and whether
token ids, target masks, token and byte counts agree. Writes benchmarks/results/validator_parity.{json,md}.

    bash benchmarks/peers/setup_tf449.sh
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/validator_parity.py
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
PEER_PY = ROOT / "benchmarks" / ".venv-tf449" / "bin" / "python"
PEER_SCRIPT = ROOT / "benchmarks" / "peers" / "validator_loss_tf449.py"
DEMO = ROOT / "tests" / "flock" / "data" / "function_calling_demo.jsonl"
TEMPLATES = ("qwen1.5", "default", "llama3")
CONTEXT_LENGTH = 1024
TARGET = 1e-6
SEED = 0
COMMAND = "bash benchmarks/peers/setup_tf449.sh && OMP_NUM_THREADS=1 .venv/bin/python benchmarks/validator_parity.py"


def build_model(folder: Path) -> Path:
    """A tiny random Llama (seeded) with the tests' byte-level BPE tokenizer; its config asks for clean-up and is
    written the way a hub tokenizer saved by transformers 4.x is, so both versions read it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.flock.tiny_lm import build_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder)
    torch.manual_seed(SEED)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2 * CONTEXT_LENGTH,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None,
                         tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(str(folder))
    path = folder / "tokenizer_config.json"
    meta = json.loads(path.read_text())
    meta.pop("backend", None)  # a 5.x-only key
    meta["tokenizer_class"] = "PreTrainedTokenizerFast"
    meta["clean_up_tokenization_spaces"] = True
    path.write_text(json.dumps(meta, indent=1))
    return folder


def build_adapter(model_dir: Path, folder: Path) -> Path:
    """A seeded random LoRA (r 4 on q/v; ``init_lora_weights=False`` so it changes the model) saved with peft."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    torch.manual_seed(SEED + 1)
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                        init_lora_weights=False, task_type="CAUSAL_LM")
    peft_model = get_peft_model(base, config)
    with torch.no_grad():  # peft's random init is small; scale it so the adapter visibly moves the loss
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.mul_(4.0)
    peft_model.save_pretrained(str(folder))
    meta = json.loads((folder / "adapter_config.json").read_text())
    meta["base_model_name_or_path"] = str(model_dir)
    (folder / "adapter_config.json").write_text(json.dumps(meta, indent=1))
    return folder


def _sql_lines() -> list[dict]:
    """Text-to-SQL answers spaced as ``a , b .`` (the clean-up rule changes their byte count), a multi-byte
    answer, English clitics, a second turn, and one answer cut in the middle by the context length."""
    from tests.flock.tiny_lm import sql_conversations

    lines = sql_conversations(8)
    for r in lines:
        r["conversations"][1]["content"] = r["conversations"][1]["content"].replace(" ", " , ", 1) + " ."
    lines.append({"system": "  Reply in SQL.  ", "conversations": [
        {"role": "user", "content": "Names in Zürich?"},
        {"role": "assistant", "content": "SELECT name FROM people WHERE city = 'Zürich' ; -- ok ? yes !"},
        {"role": "user", "content": "And the count ?"},
        {"role": "assistant", "content": "I do n't know , but it 's SELECT COUNT(*) FROM people ."}]})
    lines.append({"conversations": [{"role": "user", "content": "Average salary per city?"},
                                    {"role": "assistant", "content": "SELECT AVG(salary) , city FROM people ."}]})
    long_answer = " ".join(["SELECT name , age FROM people WHERE age > 30 ;"] * 90)  # cut mid-answer
    lines.append({"system": "Answer with SQL only.", "conversations": [
        {"role": "user", "content": "Repeat the query many times ."}, {"role": "assistant", "content": long_answer}]})
    return lines


def _nan_lines() -> list[dict]:
    """One conversation whose answer falls wholly beyond the context: 4.49 averages its NaN in (score inf)."""
    from tests.flock.tiny_lm import sql_conversations

    lines = sql_conversations(3)
    lines[1]["system"] = "word " * 300  # about 1,500 tokens
    return lines


def write_data(folder: Path) -> dict[str, Path]:
    files = {"function_calling_demo": DEMO}
    for name, lines in (("sql_cleanup", _sql_lines()), ("truncated_nan", _nan_lines())):
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
        files[name] = path
    return files


def ours(model_dir: Path, adapter_dir: Path, files: dict[str, Path], template: str) -> dict:
    """Synthera's validator-parity loss for each file (same calls as ``text evaluate --validator-parity``)."""
    from synthera.text.evaluation import load_model_with_adapter, validator_loss
    from synthera.text.prompts import encode_conversation

    lm, tok = load_model_with_adapter(str(model_dir), str(adapter_dir), fp16=True)
    out = {}
    for name, path in files.items():
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        loss = validator_loss(lm, tok, records, template=template, context_length=CONTEXT_LENGTH, parity=True)
        fast = validator_loss(lm, tok, records, template=template, context_length=CONTEXT_LENGTH)
        encoded = [encode_conversation(r, tok, template=template, max_length=CONTEXT_LENGTH) for r in records]
        digest = json.dumps([[e.input_ids, e.target_mask] for e in encoded])
        out[name] = {**loss, "encoding_sha256": hashlib.sha256(digest.encode()).hexdigest(),
                     "without_parity": {k: fast[k] for k in ("loss", "bits_per_byte", "target_bytes")}}
    return out


def theirs(model_dir: Path, adapter_dir: Path, files: dict[str, Path], template: str, tmp: Path) -> dict:
    out_file = tmp / f"peer-{template}.json"
    cmd = [str(PEER_PY), str(PEER_SCRIPT), "--model", str(model_dir), "--adapter", str(adapter_dir),
           "--template", template, "--context-length", str(CONTEXT_LENGTH), "--out", str(out_file),
           *[str(p) for p in files.values()]]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"peer run failed ({template}):\n{done.stderr[-3000:]}")
    raw = json.loads(out_file.read_text())
    by_path = raw["files"]
    return {"versions": raw["versions"], "attn": raw["attn_implementation"],
            "files": {name: by_path[str(path)] for name, path in files.items()}}


def _diff(a: float, b: float) -> float:
    """|a - b|, with two non-finite values of the same kind (both NaN, both inf) counting as equal."""
    if math.isnan(a) and math.isnan(b) or (math.isinf(a) and math.isinf(b) and a == b):
        return 0.0
    return abs(a - b)


def compare(our: dict, peer: dict) -> dict:
    return {
        "loss_ours": our["loss"], "loss_tf449": peer["eval_loss"],
        "bpb_ours": our["bits_per_byte"], "bpb_tf449": peer["bits_per_byte"],
        "abs_diff_loss": _diff(our["loss"], peer["eval_loss"]),
        "abs_diff_bpb": _diff(our["bits_per_byte"], peer["bits_per_byte"]),
        "same_encoding": our["encoding_sha256"] == peer["encoding_sha256"],
        "same_tokens": our["target_tokens"] == peer["target_tokens"],
        "same_bytes": our["target_bytes"] == peer["target_bytes"],
        "target_tokens": peer["target_tokens"], "target_bytes": peer["target_bytes"],
        "conversations": peer["conversations"], "without_target": our["without_target"],
        "without_parity": {**our["without_parity"],
                           "abs_diff_loss": _diff(our["without_parity"]["loss"], peer["eval_loss"]),
                           "abs_diff_bpb": _diff(our["without_parity"]["bits_per_byte"], peer["bits_per_byte"])},
    }


def _fmt(x: float) -> str:
    return str(x) if not math.isfinite(x) else f"{x:.9f}"


def write_md(result: dict) -> None:
    from synthera.io import write_text

    rows = [c for files in result["comparisons"].values() for c in files.values()]
    ours_v = result["versions"]["ours"]
    lines = [
        "# Validator parity: Synthera vs FLock's loss recipe under transformers 4.49", "",
        f"Command: `{COMMAND}`", "",
        f"Ours: transformers {ours_v['transformers']}, torch {ours_v['torch']}, peft {ours_v['peft']} "
        "(`validator_loss(parity=True)`: batch 1, the model's own loss, float32 mean). "
        f"Theirs: transformers {result['versions']['tf449']['transformers']}, torch "
        f"{result['versions']['tf449']['torch']}, peft {result['versions']['tf449']['peft']} "
        "(`Trainer.evaluate`, batch 1). Both fp32 on CPU, tiny random Llama (seed 0) + random LoRA (r 4, q/v), "
        f"tokenizer with `clean_up_tokenization_spaces: true`, context length {CONTEXT_LENGTH}.", "",
        f"**Overall max |Δ loss| = {result['max_abs_diff_loss']:.3g}, max |Δ bits per byte| = "
        f"{result['max_abs_diff_bpb']:.3g}** (target <= {TARGET:g}): "
        f"{'met' if result['target_met'] else 'NOT met'}. Token ids and masks identical: "
        f"{result['all_encodings_identical']}; token and byte counts identical: {result['all_counts_identical']}.", "",
        "| template | file | convs | tokens | bytes | loss (ours) | loss (4.49) | bpb (ours) | bpb (4.49) "
        "| abs Δ loss | abs Δ bpb | ids/masks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for template, files in result["comparisons"].items():
        for name, c in files.items():
            lines.append(f"| {template} | {name} | {c['conversations']} | {c['target_tokens']} | {c['target_bytes']} "
                         f"| {_fmt(c['loss_ours'])} | {_fmt(c['loss_tf449'])} | {_fmt(c['bpb_ours'])} "
                         f"| {_fmt(c['bpb_tf449'])} | {c['abs_diff_loss']:.2e} | {c['abs_diff_bpb']:.2e} "
                         f"| {'same' if c['same_encoding'] else 'DIFFER'} |")
    fast = result["without_parity"]
    lines += ["", f"Without `--validator-parity` (padded batches of 8, output layer on target positions only, float64 "
              f"mean, the installed decode for bytes): max |Δ loss| = {fast['max_abs_diff_loss']:.3g}, max |Δ bits "
              f"per byte| = {fast['max_abs_diff_bpb']:.3g}; the byte count differs in {fast['bytes_differ_in']} of "
              f"{len(rows)} runs (transformers 5.x skips the clean-up for this BPE tokenizer).",
              "", "`truncated_nan` holds one conversation whose answer lies past the context: both sides give a NaN "
              "loss and an infinite score (transformers 4.49 averages the NaN in), counted as agreement.",
              "", f"Seconds: ours {result['seconds']['ours']:.1f}, 4.49 peer {result['seconds']['tf449']:.1f} "
              "(including model loading; not a speed claim).", ""]
    write_text("\n".join(lines), RESULTS / "validator_parity.md")


def main() -> None:
    import peft
    import torch
    import transformers

    if not PEER_PY.is_file():
        raise SystemExit("benchmarks/.venv-tf449 is missing; run: bash benchmarks/peers/setup_tf449.sh")
    torch.set_num_threads(1)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="validator-parity-") as name:
        tmp = Path(name)
        model_dir = build_model(tmp / "model")
        adapter_dir = build_adapter(model_dir, tmp / "adapter")
        files = write_data(tmp)
        comparisons, seconds, peer_versions = {}, {"ours": 0.0, "tf449": 0.0}, {}
        for template in TEMPLATES:
            start = time.perf_counter()
            our = ours(model_dir, adapter_dir, files, template)
            seconds["ours"] += time.perf_counter() - start
            start = time.perf_counter()
            peer = theirs(model_dir, adapter_dir, files, template, tmp)
            seconds["tf449"] += time.perf_counter() - start
            peer_versions = {**peer["versions"], "attn_implementation": peer["attn"]}
            comparisons[template] = {n: compare(our[n], peer["files"][n]) for n in files}
            comparisons[template]["_per_conversation_tf449"] = {
                n: peer["files"][n]["per_conversation_loss"] for n in files}
    per_conv = {t: c.pop("_per_conversation_tf449") for t, c in comparisons.items()}
    rows = [c for files in comparisons.values() for c in files.values()]
    result = {
        "benchmark": "validator_parity", "command": COMMAND, "target_abs_diff": TARGET,
        "context_length": CONTEXT_LENGTH, "seed": SEED,
        "versions": {"ours": {"transformers": transformers.__version__, "torch": torch.__version__,
                              "peft": peft.__version__}, "tf449": peer_versions},
        "comparisons": comparisons, "per_conversation_loss_tf449": per_conv,
        "max_abs_diff_loss": max(r["abs_diff_loss"] for r in rows),
        "max_abs_diff_bpb": max(r["abs_diff_bpb"] for r in rows),
        "all_encodings_identical": all(r["same_encoding"] for r in rows),
        "without_parity": {"max_abs_diff_loss": max(r["without_parity"]["abs_diff_loss"] for r in rows),
                           "max_abs_diff_bpb": max(r["without_parity"]["abs_diff_bpb"] for r in rows),
                           "bytes_differ_in": sum(r["without_parity"]["target_bytes"] != r["target_bytes"]
                                                  for r in rows)},
        "all_counts_identical": all(r["same_tokens"] and r["same_bytes"] for r in rows),
        "seconds": seconds,
    }
    result["target_met"] = (result["max_abs_diff_loss"] <= TARGET and result["max_abs_diff_bpb"] <= TARGET
                            and result["all_encodings_identical"] and result["all_counts_identical"])
    from synthera.io import write_text

    write_text(json.dumps(result, indent=1, default=str) + "\n", RESULTS / "validator_parity.json")
    write_md(result)
    print(json.dumps({k: result[k] for k in ("max_abs_diff_loss", "max_abs_diff_bpb", "all_encodings_identical",
                                             "all_counts_identical", "target_met")}, indent=1))


if __name__ == "__main__":
    main()
