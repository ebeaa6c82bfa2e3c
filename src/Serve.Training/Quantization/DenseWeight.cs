using static TorchSharp.torch;

namespace Serve.Training.Quantization;

/// <summary>A frozen float32 base matrix (the LoRA case).</summary>
public sealed class DenseWeight(Tensor weight) : FrozenWeight
{
    private readonly Tensor _weight = weight.requires_grad_(false);

    public override long OutFeatures => _weight.shape[0];
    public override long InFeatures => _weight.shape[1];
    public override long StorageBytes => _weight.NumberOfElements * _weight.ElementSize;
    public override Device Device => _weight.device;
    public override bool IsQuantized => false;
    public override Tensor Dense() => _weight;
    internal override Tensor DenseForMatmul() => _weight.alias();
    public override Tensor Rows(Tensor indices) => _weight.index_select(0, indices);
    public override void Dispose() => _weight.Dispose();
}
