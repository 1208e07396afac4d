"""Drives the providers' official Python clients at our in-process test servers.

Usage: clients.py OLLAMA_URL GEMINI_URL OPENAI_URL

Each call goes through the client's own parsing (pydantic models, SSE decoding); what the
client understood is printed as one JSON object on stdout, and tests/clients.rs compares it
with what the server sent. A client that rejects our bytes raises, and the test fails with
the client's traceback: then the server is wrong, not the client.
"""

import json
import sys

import ollama
import openai
from google import genai
from google.genai import errors
from google.genai import types


def run_ollama(url):
    client = ollama.Client(host=url)
    out = {}
    parts = []
    last = None
    for chunk in client.chat(
        model="qwen2.5:14b-instruct-q4_K_M",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
    ):
        parts.append(chunk.message.content)
        last = chunk
    out["chat_text"] = "".join(parts)
    out["chat_done_reason"] = last.done_reason
    out["chat_eval_count"] = last.eval_count
    out["chat_model"] = last.model
    listed = client.list()
    out["tags"] = [m.model for m in listed.models]
    out["tags_size"] = listed.models[0].size
    out["tags_family"] = listed.models[0].details.family
    loaded = client.chat(model="qwen2.5:14b-instruct-q4_K_M", messages=[])
    out["load_done_reason"] = loaded.done_reason
    # A fault, read the way the client reads Ollama's own error body.
    try:
        client.chat(model="missing", messages=[{"role": "user", "content": "hi"}])
    except ollama.ResponseError as e:
        out["missing_status"] = e.status_code
        out["missing_error"] = e.error
    return out


def run_gemini(url):
    client = genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(base_url=url, api_version="v1beta"),
    )
    out = {}
    parts = []
    last = None
    for chunk in client.models.generate_content_stream(
        model="gemini-flash-latest", contents="hi"
    ):
        parts.append(chunk.text or "")
        last = chunk
    out["stream_text"] = "".join(parts)
    out["stream_finish"] = last.candidates[0].finish_reason.value
    out["stream_out_tokens"] = last.usage_metadata.candidates_token_count
    out["stream_model_version"] = last.model_version
    blocked = list(
        client.models.generate_content_stream(model="gemini-blocked", contents="hi")
    )
    out["blocked_finish"] = blocked[-1].candidates[0].finish_reason.value
    out["blocked_category"] = (
        blocked[-1].candidates[0].safety_ratings[0].category.value
    )
    # Faults, read the way the client reads Google's error bodies.
    for name, key in [("gemini-limited", "limited"), ("gemini-badkey", "badkey")]:
        try:
            list(client.models.generate_content_stream(model=name, contents="hi"))
        except errors.APIError as e:
            out[key + "_code"] = e.code
            out[key + "_status"] = e.status
    model = client.models.get(model="gemini-flash-latest")
    out["model_name"] = model.name
    out["model_output_limit"] = model.output_token_limit
    return out


def run_openai(url):
    client = openai.OpenAI(base_url=url + "/v1", api_key="test-key")
    out = {}
    parts = []
    finish = None
    usage = None
    for chunk in client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    ):
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    out["stream_text"] = "".join(parts)
    out["stream_finish"] = finish
    out["stream_completion_tokens"] = usage.completion_tokens
    return out


def main():
    ollama_url, gemini_url, openai_url = sys.argv[1:4]
    result = {
        "ollama": run_ollama(ollama_url),
        "gemini": run_gemini(gemini_url),
        "openai": run_openai(openai_url),
        "versions": {
            "ollama": getattr(ollama, "__version__", None),
            "google-genai": genai.__version__,
            "openai": openai.__version__,
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
