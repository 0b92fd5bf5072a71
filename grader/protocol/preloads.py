"""What a spawn may ask the zygote to import before it forks the worker: the host asks for it
(``grader.host.pool.preload_for``), the worker side imports nothing else on request."""

# peft with transformers, and safetensors. Not the real torch._dynamo: transformers asks it only
# for decorators and one submodule that the zygote's stand-in serves (grader/worker/lazy_dynamo.py)
HUGGING_FACE = ("peft", "safetensors.torch")
# what the worker side accepts: those, and the real torch._dynamo on its own (torch.compile)
PRELOADABLE = ("torch._dynamo", *HUGGING_FACE)
