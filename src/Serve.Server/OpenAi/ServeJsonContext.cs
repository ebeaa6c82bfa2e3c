using System.Text.Json;
using System.Text.Json.Serialization;
using Serve.Server.Admin;

namespace Serve.Server.OpenAi;

/// <summary>
/// Source-generated (de)serialization of every body the server reads or writes, in OpenAI's snake_case. Numbers
/// must be JSON numbers (no strings), like OpenAI's validation.
/// </summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = JsonNumberHandling.Strict,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(CompletionRequest))]
[JsonSerializable(typeof(ChatCompletionResponse))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(CompletionResponse))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(Serve.Server.Apis.TokenizeRequest))]
[JsonSerializable(typeof(Serve.Server.Apis.TokenizeResponse))]
[JsonSerializable(typeof(Serve.Server.Apis.DetokenizeRequest))]
[JsonSerializable(typeof(Serve.Server.Apis.DetokenizeResponse))]
[JsonSerializable(typeof(ModelCard))]
[JsonSerializable(typeof(OpenAiErrorResponse))]
[JsonSerializable(typeof(AdapterView))]
[JsonSerializable(typeof(AdapterListView))]
[JsonSerializable(typeof(RegisterAdapterBody))]
[JsonSerializable(typeof(EngineStatusView))]
[JsonSerializable(typeof(Serve.Server.Apis.LoadLoraAdapterRequest))]
[JsonSerializable(typeof(Serve.Server.Apis.UnloadLoraAdapterRequest))]
[JsonSerializable(typeof(Serve.Server.Apis.PublishedAdapterView))]
[JsonSerializable(typeof(Serve.Server.Apis.PublishedAdapterListView))]
internal sealed partial class ServeJsonContext : JsonSerializerContext;
