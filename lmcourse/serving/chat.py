"""`lmcourse chat`: talk to a model in the terminal, the answer streaming in as it is generated.

It uses the same `Engine` as `lmcourse serve`, so what you see here is what the server sends.
Commands at the prompt: `/reset` forgets the conversation, `/quit` (or Ctrl-D) leaves.
"""

from __future__ import annotations

import sys

from lmcourse.serving.engine import Engine, SamplingParams


def chat(engine: Engine, params: SamplingParams, system: str | None = None) -> None:
    """Read questions from stdin and stream answers to stdout until end of input."""
    start = [{"role": "system", "content": system}] if system else []
    messages = list(start)
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"Chatting with {engine.model_id}. /reset forgets the conversation, /quit leaves.")
    while True:
        try:
            question = input("you> " if interactive else "").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if question in ("/quit", "/exit"):
            return
        if question == "/reset":
            messages = list(start)
            continue
        if not question:
            continue
        messages.append({"role": "user", "content": question})
        prompt = engine.chat_prompt(messages)
        if len(prompt) + params.max_tokens > engine.context_length:
            print(f"(the conversation no longer fits the model's {engine.context_length}-token context: /reset)")
            messages.pop()
            continue
        print("model> " if interactive else "", end="", flush=True)
        answer = []
        try:
            for event in engine.complete(prompt, params):
                print(event.text, end="", flush=True)
                answer.append(event.text)
        except KeyboardInterrupt:  # stop this answer, keep the session
            print(" [interrupted]", end="")
        print()
        messages.append({"role": "assistant", "content": "".join(answer)})
