namespace Serve.Llama.Native;

/// <summary>Kind of context (enum llama_context_type).</summary>
public enum LlamaContextType
{
    Default = 0,
    Mtp = 1,
}
