"""Training runs (`lmcourse train`), driving the chapter modules' code.

`config` reads and checks a run's TOML/YAML config; `token_cache` tokenizes a corpus once into
token files; `trainer` runs the loop (progress, evaluation, checkpoints, exact resume, DDP);
`model_export` writes a trained model in Hugging Face and GGUF formats.
"""
