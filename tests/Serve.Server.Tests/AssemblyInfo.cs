// Two cores: one llama.cpp engine at a time keeps timings and the 4-minute budget predictable.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
