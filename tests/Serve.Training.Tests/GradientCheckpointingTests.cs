using Serve.Training.Lora;
using Serve.Training.Model;
using static TorchSharp.torch;

namespace Serve.Training.Tests;

/// <summary>Recomputing activations in backward must give the gradients keeping them gives, dropout included.</summary>
[Collection(TrainingCollection.Name)]
public sealed class GradientCheckpointingTests(TrainingFixture fixture)
{
    private static readonly long[] Tokens = [1, 40, 41, 42, 43, 44, 45, 300, 12, 77, 5, 260, 100, 101, 7, 9, 480, 33];

    [Theory]
    [InlineData(BaseQuantization.None)]
    [InlineData(BaseQuantization.Nf4DoubleQuant)]
    public void Checkpointed_GivesTheSameLossAndLoraGradients(BaseQuantization quantization)
    {
        var lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0.2f };
        using var model = LlamaForCausalLM.Load(fixture.ModelPath, new LlamaLoadOptions { Lora = lora, Seed = 3, Quantization = quantization });
        using (no_grad())
        {
            var generator = new Generator(5);
            foreach (var p in model.LoraLinears()) p.Linear.B.copy_(randn(p.Linear.B.shape, generator: generator) * 0.3);
        }
        var (plainLoss, plain) = LossAndGradients(model, checkpointing: false);
        var (checkpointedLoss, checkpointed) = LossAndGradients(model, checkpointing: true);

        Assert.Equal(plainLoss, checkpointedLoss, 1e-5);
        Assert.Equal(plain.Count, checkpointed.Count);
        var largest = plain.Max(g => g.abs().max().item<float>());
        Assert.True(largest > 1e-3, "the gradients should not all be zero");
        for (var i = 0; i < plain.Count; i++)
        {
            var diff = (plain[i] - checkpointed[i]).abs().max().item<float>();
            Assert.True(diff <= 1e-5f * Math.Max(1, largest), $"parameter {i}: gradients differ by {diff}");
        }
    }

    private static (double Loss, List<Tensor> Gradients) LossAndGradients(LlamaForCausalLM model, bool checkpointing)
    {
        model.GradientCheckpointing = checkpointing;
        model.train();
        foreach (var p in model.LoraParameters()) p.grad?.zero_();
        manual_seed(11);
        using var scope = NewDisposeScope();
        using var input = tensor(Tokens[..^1]).unsqueeze(0);
        using var target = tensor(Tokens[1..]);
        var logits = model.forward(input);
        var loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), target);
        loss.backward();
        var gradients = model.LoraParameters().Select(p => p.grad!.clone().MoveToOuterDisposeScope()).ToList();
        return (loss.item<float>(), gradients);
    }
}
