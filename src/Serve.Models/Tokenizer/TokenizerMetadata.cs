using Serve.Gguf;

namespace Serve.Models;

/// <summary>The <c>tokenizer.ggml.*</c> keys llama.cpp reads for an SPM ("llama") vocabulary.</summary>
public static class TokenizerMetadata
{
    public static void Write(GgufWriter writer, TokenizerVocab vocab)
    {
        writer.Set("tokenizer.ggml.model", "llama");
        writer.SetArray("tokenizer.ggml.tokens", vocab.Tokens.ToArray());
        writer.SetArray("tokenizer.ggml.scores", vocab.Scores.ToArray());
        writer.SetArray("tokenizer.ggml.token_type", vocab.TokenTypes.Select(t => (int)t).ToArray());
        writer.Set("tokenizer.ggml.bos_token_id", (uint)vocab.BosId);
        writer.Set("tokenizer.ggml.eos_token_id", (uint)vocab.EosId);
        writer.Set("tokenizer.ggml.unknown_token_id", (uint)vocab.UnkId);
        if (vocab.EotId is { } eot) writer.Set("tokenizer.ggml.eot_token_id", (uint)eot);
        if (vocab.PadId is { } pad) writer.Set("tokenizer.ggml.padding_token_id", (uint)pad);
        writer.Set("tokenizer.ggml.add_bos_token", vocab.AddBos);
        writer.Set("tokenizer.ggml.add_eos_token", vocab.AddEos);
        writer.Set("tokenizer.ggml.add_space_prefix", vocab.AddSpacePrefix);
        if (vocab.ChatTemplate is { } template) writer.Set("tokenizer.chat_template", template);
    }

    /// <summary>Reads an SPM vocabulary back, with llama.cpp's defaults for keys that are absent.</summary>
    public static TokenizerVocab Read(IReadOnlyDictionary<string, GgufValue> metadata)
    {
        var model = metadata.TryGetValue("tokenizer.ggml.model", out var m) ? m.AsString() : "(none)";
        if (model != "llama") throw new NotSupportedException($"tokenizer model '{model}' is not an SPM (\"llama\") vocabulary");

        var tokens = metadata["tokenizer.ggml.tokens"].AsStringArray();
        var scores = metadata.TryGetValue("tokenizer.ggml.scores", out var s) ? s.AsArray<float>() : new float[tokens.Length];
        var types = metadata.TryGetValue("tokenizer.ggml.token_type", out var t)
            ? t.AsArray<int>().Select(x => (TokenType)x).ToArray()
            : Enumerable.Repeat(TokenType.Normal, tokens.Length).ToArray();
        int? Id(string key) => metadata.TryGetValue(key, out var v) ? (int)v.AsInteger() : null;
        bool? Flag(string key) => metadata.TryGetValue(key, out var v) ? v.AsBool() : null;

        return new TokenizerVocab(tokens, scores, types)
        {
            UnkId = Id("tokenizer.ggml.unknown_token_id") ?? 0,
            BosId = Id("tokenizer.ggml.bos_token_id") ?? 1,
            EosId = Id("tokenizer.ggml.eos_token_id") ?? 2,
            EotId = Id("tokenizer.ggml.eot_token_id"),
            PadId = Id("tokenizer.ggml.padding_token_id"),
            AddBos = Flag("tokenizer.ggml.add_bos_token") ?? true,
            AddEos = Flag("tokenizer.ggml.add_eos_token") ?? false,
            AddSpacePrefix = Flag("tokenizer.ggml.add_space_prefix") ?? true, // llama.cpp's SPM default
            ChatTemplate = metadata.TryGetValue("tokenizer.chat_template", out var c) ? c.AsString() : null,
        };
    }
}
