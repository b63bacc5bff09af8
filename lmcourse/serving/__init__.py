"""Serving a model on the chapter modules' code (`lmcourse serve`, `lmcourse chat`).

`engine` decodes concurrent requests together over chapter 09's paged KV cache; `server` is the
OpenAI-compatible HTTP API and serves the chat page in `web/`; `chat` is the terminal chat.
"""
