using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Serve.Training.Training;

/// <summary>
/// AdamW (decoupled weight decay) over the trained tensors (LoRA factors, or every weight in base training). Written out rather than taken from torch.optim so its
/// whole state (step, first and second moments) is plain tensors a checkpoint stores and restores exactly.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly IReadOnlyList<Tensor> _parameters;
    private readonly Tensor[] _m;
    private readonly Tensor[] _v;
    private readonly double _beta1, _beta2, _eps, _weightDecay;

    public AdamW(IReadOnlyList<Tensor> parameters, double beta1, double beta2, double eps, double weightDecay)
    {
        _parameters = parameters;
        _m = [.. parameters.Select(p => zeros_like(p).requires_grad_(false))];
        _v = [.. parameters.Select(p => zeros_like(p).requires_grad_(false))];
        _beta1 = beta1;
        _beta2 = beta2;
        _eps = eps;
        _weightDecay = weightDecay;
    }

    /// <summary>Steps taken so far (bias correction uses it).</summary>
    public long Step { get; set; }

    public IReadOnlyList<Tensor> FirstMoments => _m;
    public IReadOnlyList<Tensor> SecondMoments => _v;

    public void Update(double learningRate)
    {
        Step++;
        var correction1 = 1 - Math.Pow(_beta1, Step);
        var correction2 = 1 - Math.Pow(_beta2, Step);
        using var noGrad = no_grad();
        for (var i = 0; i < _parameters.Count; i++)
        {
            var p = _parameters[i];
            using var g = p.grad;
            if (g is null) continue;
            using var scope = NewDisposeScope();
            _m[i].mul_(_beta1).add_(g, alpha: 1 - _beta1);
            _v[i].mul_(_beta2).addcmul_(g, g, value: 1 - _beta2);
            if (_weightDecay > 0) p.mul_(1 - learningRate * _weightDecay);
            var denominator = (_v[i] / correction2).sqrt_().add_(_eps);
            p.addcdiv_(_m[i], denominator, value: -learningRate / correction1);
        }
    }

    public void ZeroGrad()
    {
        foreach (var p in _parameters)
        {
            using var scope = NewDisposeScope();
            p.grad?.zero_();
        }
    }

    /// <summary>Scales all gradients so their global L2 norm is at most <paramref name="maxNorm"/>; returns the norm before.</summary>
    public double ClipGradNorm(double maxNorm)
    {
        using var noGrad = no_grad();
        double sum = 0;
        // Every tensor an op returns (pow's result, even the handle an in-place op gives back) is native memory
        // until disposed: without the scopes each step leaked two tensors per trained parameter.
        foreach (var p in _parameters)
        {
            using var scope = NewDisposeScope();
            var g = p.grad;
            if (g is null) continue;
            sum += g.pow(2).sum().item<float>();
        }
        var norm = Math.Sqrt(sum);
        if (maxNorm > 0 && norm > maxNorm)
        {
            var factor = maxNorm / (norm + 1e-6);
            foreach (var p in _parameters)
            {
                using var scope = NewDisposeScope();
                p.grad?.mul_(factor);
            }
        }
        return norm;
    }

    public void Dispose()
    {
        foreach (var t in _m.Concat(_v)) t.Dispose();
    }
}
