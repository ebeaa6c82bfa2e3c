namespace Serve.Gguf;

/// <summary>
/// Well-known metadata keys, spelled as llama.cpp reads them (src/llama-arch.cpp). Per-architecture keys
/// are prefixed with the value of <see cref="Architecture"/>, e.g. "llama.context_length".
/// </summary>
public static class GgufKeys
{
    public const string Architecture = "general.architecture";
    public const string Name = "general.name";
    public const string Alignment = "general.alignment";
    public const string Type = "general.type";
    public const string FileType = "general.file_type";
    public const string QuantizationVersion = "general.quantization_version";
    public const string Author = "general.author";
    public const string Version = "general.version";
    public const string Description = "general.description";
    public const string License = "general.license";

    public const string TokenizerModel = "tokenizer.ggml.model";
    public const string TokenizerPre = "tokenizer.ggml.pre";
    public const string TokenizerTokens = "tokenizer.ggml.tokens";
    public const string TokenizerTokenType = "tokenizer.ggml.token_type";
    public const string TokenizerScores = "tokenizer.ggml.scores";
    public const string TokenizerMerges = "tokenizer.ggml.merges";
    public const string TokenizerBosId = "tokenizer.ggml.bos_token_id";
    public const string TokenizerEosId = "tokenizer.ggml.eos_token_id";
    public const string TokenizerEotId = "tokenizer.ggml.eot_token_id";
    public const string TokenizerUnknownId = "tokenizer.ggml.unknown_token_id";
    // llama.cpp spells it "seperator"; the key must match that spelling to be read.
    public const string TokenizerSeparatorId = "tokenizer.ggml.seperator_token_id";
    public const string TokenizerPaddingId = "tokenizer.ggml.padding_token_id";
    public const string TokenizerAddBos = "tokenizer.ggml.add_bos_token";
    public const string TokenizerAddEos = "tokenizer.ggml.add_eos_token";
    public const string TokenizerAddSpacePrefix = "tokenizer.ggml.add_space_prefix";
    public const string TokenizerRemoveExtraWhitespaces = "tokenizer.ggml.remove_extra_whitespaces";
    public const string TokenizerChatTemplate = "tokenizer.chat_template";

    /// <summary>"lora" for a LoRA adapter file, with <see cref="Type"/> = "adapter".</summary>
    public const string AdapterType = "adapter.type";
    public const string AdapterLoraAlpha = "adapter.lora.alpha";
    public const string AdapterLoraTaskName = "adapter.lora.task_name";
    public const string AdapterLoraPromptPrefix = "adapter.lora.prompt_prefix";

    public static string VocabSize(string arch) => $"{arch}.vocab_size";
    public static string ContextLength(string arch) => $"{arch}.context_length";
    public static string EmbeddingLength(string arch) => $"{arch}.embedding_length";
    public static string BlockCount(string arch) => $"{arch}.block_count";
    public static string FeedForwardLength(string arch) => $"{arch}.feed_forward_length";
    public static string HeadCount(string arch) => $"{arch}.attention.head_count";
    public static string HeadCountKv(string arch) => $"{arch}.attention.head_count_kv";
    public static string KeyLength(string arch) => $"{arch}.attention.key_length";
    public static string ValueLength(string arch) => $"{arch}.attention.value_length";
    public static string LayerNormRmsEpsilon(string arch) => $"{arch}.attention.layer_norm_rms_epsilon";
    public static string RopeDimensionCount(string arch) => $"{arch}.rope.dimension_count";
    public static string RopeFreqBase(string arch) => $"{arch}.rope.freq_base";
}
