"""Files the course reads and writes, shared by the chapter modules and the machinery.

`pretrained` finds and reads the GGUF files of pretrained models that ship in packages (and
their chat templates); `corpus` is the default offline corpus (the Python installation's docs
and standard library, with a manifest); `checkpoint` saves and loads safetensors + JSON, atomically.
"""
