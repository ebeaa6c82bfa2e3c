using Serve.Training.Bench;

// Benchmarks for Serve.Training (not tests: they take minutes and print numbers).
//   qlora [steps] [large|small]   peak memory and final held-out loss, QLoRA (NF4 + double quant) vs LoRA on an fp32 base
//   mfu [steps]     training tokens/s and model-FLOPs utilisation against measured fp32 matmul GFLOP/s
//   nf4             NF4 dequantisation speed next to a matmul of the same matrix
return args.FirstOrDefault() switch
{
    "qlora" => QloraBenchmark.Run(args.Skip(1).ToArray()),
    "qlora-child" => QloraBenchmark.Child(args.Skip(1).ToArray()),
    "mfu" => MfuBenchmark.Run(args.Skip(1).ToArray()),
    "nf4" => Nf4Benchmark.Run(args.Skip(1).ToArray()),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: Serve.Training.Bench qlora [steps] [large|small] | mfu [steps] | nf4");
    return 1;
}
