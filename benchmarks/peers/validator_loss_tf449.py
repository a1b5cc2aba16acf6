"""FLock's loss-validator recipe, rebuilt from its described behaviour, for transformers 4.49 (the version it pins).

Run ONLY inside benchmarks/.venv-tf449 (see setup_tf449.sh); it never imports synthera, so the comparison made by
benchmarks/validator_parity.py is between two independent implementations. What it reproduces
(FLock-io/llm-loss-validator at 7b6f484; /work/shared/reference/flock_validator.md section 1.1):

- tokenizer: ``AutoTokenizer.from_pretrained(base, use_fast=True)``, pad = eos when missing;
- model: fp32 on CPU (the validator's CPU configuration), ``use_cache=False``, LoRA merged with ``merge_and_unload``;
- data: per line, the template's system block (the line's ``system`` stripped, or the template default), then a
  tools header when ``tools`` is a non-empty value, then every non-assistant turn (user, function_call,
  observation; other roles ignored) buffered as context until an assistant turn; the context and the assistant
  block are tokenized separately (no special tokens added) and only the assistant tokens are targets; the whole
  sequence is then cut to ``context_length``;
- collation: right padding with the pad id, labels = ids where the target mask is 1, else -100;
- loss: ``Trainer.evaluate`` with ``per_device_eval_batch_size=1`` (the model's own shifted cross-entropy, then
  the Trainer's mean over conversations);
- bytes: UTF-8 length of ``tokenizer.decode(target ids, skip_special_tokens=True)`` per conversation, summed;
  score = ``eval_loss * target_tokens / ln 2 / target_bytes`` (inf when the loss is not finite or bytes are 0).

    benchmarks/.venv-tf449/bin/python benchmarks/peers/validator_loss_tf449.py --model M --adapter A \\
        --template qwen1.5 --context-length 256 --out result.json data1.jsonl [data2.jsonl ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import tempfile

# The validator's hand templates used by the benchmark: (system_format, user_format, assistant_format,
# tool_format, function_format, observation_format, default system). Written out from its template table.
TEMPLATES = {
    "default": ("System: {content}\n\n", "User: {content}\nAssistant: ", "{content} {stop_token}",
                "{content}", "{content}", "Tool\n{content}\n", None),
    "qwen1.5": ("<|im_start|>system\n{content}<|im_end|>\n",
                "<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n", "{content}<|im_end|>\n",
                "{content}", "{content}", "<|im_start|>tool\n{content}<im_end>\n<|im_start|>assistant\n",
                "You are a helpful assistant."),
    "llama3": ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>",
               "<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n",
               "{content}<|eot_id|>", "{content}", "{content}",
               "<|start_header_id|>tool<|end_header_id|>\n\n{content}<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n", None),
}


def tools_header(tools: list) -> str:
    """The tool list as the validator lays it out in the prompt."""
    out = ["You have access to the following tools:\n"]
    for tool in tools:
        props = tool["parameters"]["properties"]
        needed = tool["parameters"].get("required", [])
        out.append(f"> Tool Name: {tool['name']}\nTool Description: {tool.get('description', '')}\nTool Args:\n")
        for arg in props:
            spec = props[arg]
            line = f"  - {arg} ({spec.get('type', '')}"
            line += ", required" if arg in needed else ""
            line += "): " + spec.get("description", "")
            if spec.get("enum"):
                line += ", should be one of [" + ", ".join(spec["enum"]) + "]"
            if spec.get("items"):
                line += ", where each item should be " + spec["items"].get("type", "")
            out.append(line + "\n")
        out.append("\n")
    names = ", ".join(tool["name"] for tool in tools)
    out.append("Use the following format if using a tool:\n```\nAction: tool name (one of [" + names + "])\n"
               "Action Input: the input to the tool, in a JSON format representing the kwargs "
               '(e.g. ```{"input": "hello world", "num_beams": 5}```)\n```\n')
    return "".join(out)


def call_text(call) -> str:
    """A function_call turn's content as the validator writes it (one Action block per call)."""
    if not call:
        return ""
    calls = call if isinstance(call, list) else [call]
    blocks = [f"Action: {c['name']}\nAction Input: {json.dumps(c['arguments'], ensure_ascii=False)}\n"
              for c in calls]
    return "\n".join(blocks) + "\n"


def encode(record: dict, tokenizer, template: str, context_length: int) -> dict:
    """``input_ids``, ``attention_mask`` and ``target_mask`` of one validation line."""
    system_fmt, user_fmt, assistant_fmt, tool_fmt, function_fmt, observation_fmt, default_system = TEMPLATES[template]
    eos = tokenizer.eos_token

    def tok(text):
        return tokenizer.encode(text, add_special_tokens=False)

    ids: list[int] = []
    mask: list[int] = []
    if system_fmt is not None:
        system = record["system"].strip() if "system" in record else default_system
        if system is not None:
            ids = tok(system_fmt.format(content=system))
            mask = [0] * len(ids)
    if "tools" in record and record["tools"]:
        piece = tok(tool_fmt.format(content=tools_header(json.loads(record["tools"]))))
        ids, mask = ids + piece, mask + [0] * len(piece)
    context = ""
    for turn in record["conversations"]:
        role, content = turn["role"], turn["content"].strip()
        if role == "assistant":
            before = tok(context)
            answer = tok(assistant_fmt.format(content=content, stop_token=eos))
            ids += before + answer
            mask += [0] * len(before) + [1] * len(answer)
            context = ""
        elif role == "user":
            context += user_fmt.format(content=content, stop_token=eos)
        elif role == "function_call":
            context += function_fmt.format(content=call_text(json.loads(content)))
        elif role == "observation":
            context += observation_fmt.format(content=content)
    ids, mask = ids[:context_length], mask[:context_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "target_mask": mask}


class Collate:
    """Right-pad a batch; labels are the ids under the target mask, -100 elsewhere."""

    def __init__(self, pad_id: int, context_length: int):
        self.pad_id, self.context_length = pad_id, context_length

    def __call__(self, batch):
        import torch

        width = min(max(len(x["input_ids"]) for x in batch), self.context_length)
        rows = {"input_ids": [], "attention_mask": [], "target_mask": []}
        for x in batch:
            extra = width - len(x["input_ids"])
            rows["input_ids"].append((x["input_ids"] + [self.pad_id] * extra)[:width])
            rows["attention_mask"].append((x["attention_mask"] + [0] * extra)[:width])
            rows["target_mask"].append((x["target_mask"] + [0] * extra)[:width])
        ids = torch.tensor(rows["input_ids"], dtype=torch.long)
        target = torch.tensor(rows["target_mask"], dtype=torch.long)
        labels = torch.where(target == 1, ids, torch.full_like(ids, -100))
        return {"input_ids": ids, "attention_mask": torch.tensor(rows["attention_mask"], dtype=torch.long),
                "labels": labels}


def load(model_dir: str, adapter_dir: str | None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=True, torch_dtype=torch.float32,
                                                 use_cache=False, device_map=None)
    if adapter_dir:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir, device_map=None).merge_and_unload()
    return model, tokenizer


def score_file(path: str, model, tokenizer, template: str, context_length: int) -> dict:
    import torch
    from transformers import Trainer, TrainingArguments

    with open(path, encoding="utf8") as fh:
        items = [encode(json.loads(line), tokenizer, template, context_length) for line in fh if line.strip()]
    tokens = n_bytes = 0
    for item in items:
        target = [t for t, m in zip(item["input_ids"], item["target_mask"], strict=True) if m == 1]
        if target:
            tokens += len(target)
            n_bytes += len(tokenizer.decode(target, skip_special_tokens=True).encode("utf-8"))
    collate = Collate(tokenizer.pad_token_id, context_length)
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, per_device_eval_batch_size=1, fp16=False, use_cpu=True,
                                 remove_unused_columns=False, report_to=[], disable_tqdm=True)
        trainer = Trainer(model=model, args=args, eval_dataset=items, processing_class=tokenizer,
                          data_collator=collate)
        eval_loss = float(trainer.evaluate()["eval_loss"])
    with torch.inference_mode():  # per-conversation losses, for diagnosis only
        per = [float(model(**collate([item])).loss) for item in items]
    finite = not (math.isnan(eval_loss) or math.isinf(eval_loss))
    bpc = eval_loss * tokens / math.log(2) / n_bytes if finite and n_bytes else math.inf
    digest = hashlib.sha256(json.dumps([[i["input_ids"], i["target_mask"]] for i in items]).encode()).hexdigest()
    return {"eval_loss": eval_loss, "bits_per_byte": bpc, "target_tokens": tokens, "target_bytes": n_bytes,
            "conversations": len(items), "per_conversation_loss": per, "encoding_sha256": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+")
    parser.add_argument("--model", required=True)
    parser.add_argument("--adapter")
    parser.add_argument("--template", required=True, choices=sorted(TEMPLATES))
    parser.add_argument("--context-length", type=int, default=4096)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import peft
    import torch
    import transformers

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model, tokenizer = load(args.model, args.adapter)
    model.eval()
    result = {"versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                           "peft": peft.__version__},
              "attn_implementation": getattr(model.config, "_attn_implementation", None),
              "files": {path: score_file(path, model, tokenizer, args.template, args.context_length)
                        for path in args.data}}
    with open(args.out, "w", encoding="utf8") as fh:
        json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
