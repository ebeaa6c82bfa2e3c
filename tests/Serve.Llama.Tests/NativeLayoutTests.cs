using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Serve.Llama.Native;

namespace Serve.Llama.Tests;

/// <summary>
/// Our structs must match the shipped llama.cpp byte for byte. Expected sizes were computed by gcc on x86-64
/// Linux from the v0.5.0 headers (sizeof of each struct in a throwaway C program); expected defaults are the
/// values in llama_model_default_params (src/llama-model.cpp), llama_context_default_params
/// (src/llama-context.cpp) and llama_sampler_chain_default_params (src/llama.cpp). A shifted field reads back
/// as a wrong default here.
/// </summary>
public sealed class NativeLayoutTests
{
    public NativeLayoutTests() => LlamaBackend.Initialize();

    [Fact]
    public void StructSizes_MatchC_OnX64()
    {
        Assert.Equal(80, Unsafe.SizeOf<LlamaModelParams>());
        Assert.Equal(160, Unsafe.SizeOf<LlamaContextParams>());
        Assert.Equal(56, Unsafe.SizeOf<LlamaBatchNative>());
        Assert.Equal(12, Unsafe.SizeOf<LlamaTokenData>());
        Assert.Equal(32, Unsafe.SizeOf<LlamaTokenDataArray>());
        Assert.Equal(8, Unsafe.SizeOf<LlamaLogitBias>());
        Assert.Equal(1, Unsafe.SizeOf<LlamaSamplerChainParams>());
        Assert.Equal(16, Unsafe.SizeOf<LlamaChatMessage>());
        Assert.Equal(48, Unsafe.SizeOf<LlamaPerfContextData>());
        Assert.Equal(16, Unsafe.SizeOf<LlamaPerfSamplerData>());
        // Blittable structs: the marshaller's view agrees with the runtime's.
        Assert.Equal(80, Marshal.SizeOf<LlamaModelParams>());
        Assert.Equal(160, Marshal.SizeOf<LlamaContextParams>());
        Assert.Equal(56, Marshal.SizeOf<LlamaBatchNative>());
    }

    [Fact]
    public void FieldOffsets_MatchC_OnX64()
    {
        Assert.Equal(16, Marshal.OffsetOf<LlamaModelParams>(nameof(LlamaModelParams.NGpuLayers)).ToInt32());
        Assert.Equal(28, Marshal.OffsetOf<LlamaModelParams>(nameof(LlamaModelParams.LazyMode)).ToInt32());
        Assert.Equal(40, Marshal.OffsetOf<LlamaModelParams>(nameof(LlamaModelParams.TensorSplit)).ToInt32());
        Assert.Equal(72, Marshal.OffsetOf<LlamaModelParams>(nameof(LlamaModelParams.VocabOnly)).ToInt32());
        Assert.Equal(77, Marshal.OffsetOf<LlamaModelParams>(nameof(LlamaModelParams.LoadMtp)).ToInt32());
        Assert.Equal(52, Marshal.OffsetOf<LlamaContextParams>(nameof(LlamaContextParams.FlashAttnType)).ToInt32());
        Assert.Equal(84, Marshal.OffsetOf<LlamaContextParams>(nameof(LlamaContextParams.DefragThold)).ToInt32());
        Assert.Equal(104, Marshal.OffsetOf<LlamaContextParams>(nameof(LlamaContextParams.TypeK)).ToInt32());
        Assert.Equal(128, Marshal.OffsetOf<LlamaContextParams>(nameof(LlamaContextParams.Embeddings)).ToInt32());
        Assert.Equal(133, Marshal.OffsetOf<LlamaContextParams>(nameof(LlamaContextParams.KvUnified)).ToInt32());
        Assert.Equal(152, Marshal.OffsetOf<LlamaContextParams>(nameof(LlamaContextParams.CtxOther)).ToInt32());
        Assert.Equal(24, Marshal.OffsetOf<LlamaTokenDataArray>(nameof(LlamaTokenDataArray.Sorted)).ToInt32());
        Assert.Equal(32, Marshal.OffsetOf<LlamaPerfContextData>(nameof(LlamaPerfContextData.NPEval)).ToInt32());
    }

    [Fact]
    public unsafe void ModelDefaultParams_ReadBack_EqualLlamaCppDefaults()
    {
        var p = NativeApi.llama_model_default_params();
        Assert.Equal(nint.Zero, p.Devices);
        Assert.Equal(nint.Zero, p.TensorBuftOverrides);
        Assert.Equal(-1, p.NGpuLayers);
        Assert.Equal(LlamaSplitMode.Layer, p.SplitMode);
        Assert.Equal(LlamaLoadMode.Auto, p.LoadMode);
        Assert.Equal(LlamaLazyMode.Auto, p.LazyMode);
        Assert.Equal(0, p.MainGpu);
        Assert.True(p.TensorSplit == null);
        Assert.True(p.ProgressCallback == null);
        Assert.True(p.ProgressCallbackUserData == null);
        Assert.Equal(nint.Zero, p.KvOverrides);
        Assert.False(p.VocabOnly);
        Assert.False(p.CheckTensors);
        Assert.True(p.UseExtraBufts);
        Assert.False(p.NoHost);
        Assert.False(p.NoAlloc);
        Assert.False(p.LoadMtp);
    }

    [Fact]
    public unsafe void ContextDefaultParams_ReadBack_EqualLlamaCppDefaults()
    {
        var p = NativeApi.llama_context_default_params();
        Assert.Equal(512u, p.NCtx);
        Assert.Equal(2048u, p.NBatch);
        Assert.Equal(512u, p.NUbatch);
        Assert.Equal(1u, p.NSeqMax);
        Assert.Equal(0u, p.NRsSeq);
        Assert.Equal(0u, p.NOutputsMax);
        Assert.Equal(1u, p.NOutputsMaxPerSeq);
        Assert.Equal(4, p.NThreads);       // GGML_DEFAULT_N_THREADS
        Assert.Equal(4, p.NThreadsBatch);
        Assert.Equal(LlamaContextType.Default, p.CtxType);
        Assert.Equal(LlamaRopeScalingType.Unspecified, p.RopeScalingType);
        Assert.Equal(LlamaPoolingType.Unspecified, p.PoolingType);
        Assert.Equal(LlamaAttentionType.Unspecified, p.AttentionType);
        Assert.Equal(LlamaFlashAttnType.Auto, p.FlashAttnType);
        Assert.Equal(0f, p.RopeFreqBase);
        Assert.Equal(0f, p.RopeFreqScale);
        Assert.Equal(-1f, p.YarnExtFactor);
        Assert.Equal(-1f, p.YarnAttnFactor);
        Assert.Equal(-1f, p.YarnBetaFast);
        Assert.Equal(-1f, p.YarnBetaSlow);
        Assert.Equal(0u, p.YarnOrigCtx);
        Assert.Equal(-1f, p.DefragThold);
        Assert.Equal(nint.Zero, p.CbEval);
        Assert.True(p.CbEvalUserData == null);
        Assert.Equal(GgmlType.F16, p.TypeK);
        Assert.Equal(GgmlType.F16, p.TypeV);
        Assert.True(p.AbortCallback == null);
        Assert.True(p.AbortCallbackData == null);
        Assert.False(p.Embeddings);
        Assert.True(p.OffloadKqv);
        Assert.True(p.NoPerf);
        Assert.True(p.OpOffload);
        Assert.True(p.SwaFull);
        Assert.False(p.KvUnified);
        Assert.Equal(nint.Zero, p.Samplers);
        Assert.Equal(0u, p.NSamplers);
        Assert.Equal(nint.Zero, p.CtxOther);
    }

    [Fact]
    public void SamplerChainDefaultParams_ReadBack_NoPerfTrue()
    {
        Assert.True(NativeApi.llama_sampler_chain_default_params().NoPerf);
    }
}
