// Timing-based tests share two cores: run them one at a time so one test's load does not skew another's rates.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
