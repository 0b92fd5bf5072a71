"""What a spawn may ask the zygote to import before it forks the worker: the host asks for it
(``grader.host.pool.preload_for``), the worker side imports nothing else on request."""

# peft with transformers, the real torch._dynamo (which transformers imports) and safetensors
HUGGING_FACE = ("torch._dynamo", "peft", "safetensors.torch")
