using System.Text;
using Serve.Llama;

namespace Serve.Engine.Sampling;

/// <summary>Log-probabilities of the model's raw distribution (before sampling transforms), as OpenAI reports them.</summary>
internal static class LogprobCalculator
{
    public static TokenLogprob Compute(LlamaVocab vocab, ReadOnlySpan<float> logits, int token, int top)
    {
        var max = float.NegativeInfinity;
        foreach (var l in logits) if (l > max) max = l;
        double sum = 0;
        foreach (var l in logits) sum += Math.Exp(l - max);
        var logZ = max + (float)Math.Log(sum);

        var alternatives = new List<TopLogprob>(top);
        if (top > 0)
        {
            // Partial selection: keep the best `top` in a small sorted list.
            var best = new List<(float Logit, int Token)>(top + 1);
            for (var i = 0; i < logits.Length; i++)
            {
                var l = logits[i];
                if (best.Count == top && l <= best[^1].Logit) continue;
                var at = best.FindIndex(b => b.Logit < l);
                best.Insert(at < 0 ? best.Count : at, (l, i));
                if (best.Count > top) best.RemoveAt(best.Count - 1);
            }
            foreach (var (logit, id) in best)
            {
                var bytes = vocab.TokenToPiece(id);
                alternatives.Add(new TopLogprob(Encoding.UTF8.GetString(bytes), bytes, logit - logZ));
            }
        }
        var tokenBytes = vocab.TokenToPiece(token);
        return new TokenLogprob(Encoding.UTF8.GetString(tokenBytes), tokenBytes, logits[token] - logZ, alternatives);
    }
}
