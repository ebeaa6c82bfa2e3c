using System.Runtime.InteropServices;

namespace Serve.Llama.Native;

/// <summary>struct llama_context_params, field by field (160 bytes on x86-64).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LlamaContextParams
{
    public uint NCtx;
    public uint NBatch;
    public uint NUbatch;
    public uint NSeqMax;
    public uint NRsSeq;
    public uint NOutputsMax;
    public uint NOutputsMaxPerSeq;
    public int NThreads;
    public int NThreadsBatch;

    public LlamaContextType CtxType;
    public LlamaRopeScalingType RopeScalingType;
    public LlamaPoolingType PoolingType;
    public LlamaAttentionType AttentionType;
    public LlamaFlashAttnType FlashAttnType;

    public float RopeFreqBase;
    public float RopeFreqScale;
    public float YarnExtFactor;
    public float YarnAttnFactor;
    public float YarnBetaFast;
    public float YarnBetaSlow;
    public uint YarnOrigCtx;
    public float DefragThold;

    public nint CbEval;                // ggml_backend_sched_eval_callback
    public void* CbEvalUserData;

    public GgmlType TypeK;
    public GgmlType TypeV;

    public delegate* unmanaged[Cdecl]<void*, byte> AbortCallback;
    public void* AbortCallbackData;

    public NativeBool Embeddings;
    public NativeBool OffloadKqv;
    public NativeBool NoPerf;
    public NativeBool OpOffload;
    public NativeBool SwaFull;
    public NativeBool KvUnified;

    public nint Samplers;              // llama_sampler_seq_config*
    public nuint NSamplers;
    public nint CtxOther;              // llama_context*
}
