"""Backends: the fake, the disk cache, a tiny local Llama, and an OpenAI-compatible server on localhost."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from synthera.text.llm import CachedLLM, FakeLLM, HFLocalLLM, LLMError, OpenAICompatibleLLM, get_llm, prompt_key


def test_fake_is_deterministic_and_answers_from_the_last_message():
    fake = FakeLLM()
    prompt = "Topic: sea turtles\nReply in exactly this format:\nPassage: <text>\nSummary: <short>"
    a = fake.generate([prompt, prompt + " "], seed=1)
    assert a == fake.generate([prompt, prompt + " "], seed=1)
    assert a[0] != fake.generate([prompt], seed=2)[0]
    assert a[0].startswith("Passage: ") and "\nSummary: " in a[0]
    assert fake.calls == 5
    chat = [{"role": "user", "content": "Write about rivers."}, {"role": "assistant", "content": "Rivers."},
            {"role": "user", "content": "Write one question that this paragraph answers.\n\nTurtles nest."}]
    question = fake.generate([chat])[0]
    assert question.endswith("?") and "rivers" not in question


def test_cache_answers_once_and_resumes_from_file(tmp_path):
    path = tmp_path / "run.cache.jsonl"
    fake = FakeLLM()
    cached = CachedLLM(fake, path)
    first = cached.generate(["a", "b", "c"], seeds=[1, 2, 3])
    assert fake.calls == 3 and cached.misses == 3
    again = CachedLLM(FakeLLM(), path)  # a new process: read back from disk
    assert again.generate(["a", "b", "c"], seeds=[1, 2, 3]) == first
    assert again.llm.calls == 0 and again.hits == 3
    again.generate(["a", "d"], seeds=[1, 4])
    assert again.llm.calls == 1
    with open(path, "a") as fh:
        fh.write('{"key": "torn')  # a crash mid-write leaves a torn line; it is ignored
    assert len(CachedLLM(FakeLLM(), path)) == 4


def test_prompt_key_changes_with_everything_that_changes_the_answer():
    base = prompt_key("m", "hi", max_new_tokens=10, temperature=0.0, seed=0)
    assert base == prompt_key("m", [{"role": "user", "content": "hi"}], max_new_tokens=10, temperature=0.0, seed=0)
    for other in (prompt_key("m2", "hi", max_new_tokens=10, temperature=0.0, seed=0),
                  prompt_key("m", "hi!", max_new_tokens=10, temperature=0.0, seed=0),
                  prompt_key("m", "hi", max_new_tokens=11, temperature=0.0, seed=0),
                  prompt_key("m", "hi", max_new_tokens=10, temperature=0.5, seed=0),
                  prompt_key("m", "hi", max_new_tokens=10, temperature=0.0, seed=1)):
        assert other != base


def _tiny_llama(folder):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["hello", "world", "river", "sea", "turtle", "sand", "warm", "question", "answer", "passage", "summary",
             "topic", "the", "a", "is", "of"]
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, ":": 4, "user": 5, "assistant": 6, "system": 7}
    for w in words:
        vocab.setdefault(w, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>", bos_token="<s>",
                                  unk_token="<unk>")
    tok.chat_template = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
                         "{% if add_generation_prompt %}assistant :{% endif %}")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_hf_local_backend_batches_with_left_padding(tmp_path):
    folder = _tiny_llama(tmp_path / "tiny")
    llm = get_llm(str(folder), batch_size=2)
    assert isinstance(llm, HFLocalLLM) and llm.model_id == "tiny"
    prompts = ["hello world", "the sea turtle is warm and the sand is warm", "river"]
    out = llm.generate(prompts, max_new_tokens=6)
    assert len(out) == 3 and all(isinstance(t, str) for t in out)
    assert out == llm.generate(prompts, max_new_tokens=6)
    # left padding: a prompt's greedy answer does not depend on its batch mates
    assert llm.generate([prompts[0]], max_new_tokens=6)[0] == out[0]
    sampled = llm.generate(prompts[:2], max_new_tokens=6, temperature=1.0, seed=7)
    assert sampled == llm.generate(prompts[:2], max_new_tokens=6, temperature=1.0, seed=7)


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list] = []
    fail_first = 0
    status = 200

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"auth": self.headers.get("Authorization"), "body": body})
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        if type(self).status != 200:
            self.send_response(type(self).status)
            self.end_headers()
            return
        text = "echo: " + body["messages"][-1]["content"]
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.seen, _Handler.fail_first, _Handler.status = [], 0, 200
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_openai_backend_sends_key_from_env_and_retries(server, monkeypatch):
    monkeypatch.setenv("MY_TEST_KEY", "sk-secret-123")
    _Handler.fail_first = 1
    llm = OpenAICompatibleLLM(server, "tiny-model", api_key_env="MY_TEST_KEY", backoff_s=0.01)
    assert llm.generate(["hi", "there"], max_new_tokens=5, seed=3) == ["echo: hi", "echo: there"]
    assert _Handler.seen[-1]["auth"] == "Bearer sk-secret-123"
    assert _Handler.seen[-1]["body"]["model"] == "tiny-model" and _Handler.seen[-1]["body"]["max_tokens"] == 5
    assert len(_Handler.seen) == 3  # one 503, retried
    assert "sk-secret" not in repr(llm)


def test_openai_backend_errors_never_show_the_key(server, monkeypatch):
    monkeypatch.setenv("SYNTHERA_API_KEY", "sk-secret-456")
    _Handler.status = 401
    with pytest.raises(LLMError) as info:
        OpenAICompatibleLLM(server, "m", backoff_s=0.01).generate(["hi"])
    assert "SYNTHERA_API_KEY" in str(info.value) and "sk-secret" not in str(info.value)
    _Handler.status = 500
    with pytest.raises(LLMError, match="cannot reach"):
        OpenAICompatibleLLM(server, "m", retries=1, backoff_s=0.01).generate(["hi"])


def test_unreachable_endpoint_fails_fast():
    with pytest.raises(LLMError, match="cannot reach"):
        OpenAICompatibleLLM("http://user:pw@127.0.0.1:9/v1", "m", backoff_s=5).generate(["hi"])


def test_get_llm_needs_a_model_name_for_urls():
    from synthera.errors import UserInputError

    with pytest.raises(UserInputError, match="also pass model_name") as info:
        get_llm("http://localhost:8000/v1")
    assert "--" not in str(info.value)  # the library names its parameter; the CLI maps it to --model-name
    assert isinstance(get_llm("fake"), FakeLLM)
