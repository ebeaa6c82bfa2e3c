namespace Serve.Models;

/// <summary>The <c>general.architecture</c> values the maker writes, spelled as llama.cpp's llama-arch.cpp spells them.</summary>
public static class ModelArchitectures
{
    public const string Llama = "llama";
    public const string Qwen2 = "qwen2";
    public const string Qwen3 = "qwen3";
    public const string Phi3 = "phi3";
    public const string Gemma2 = "gemma2";
    public const string Gemma3 = "gemma3";

    public static readonly IReadOnlyList<string> All = [Llama, Qwen2, Qwen3, Phi3, Gemma2, Gemma3];
}
