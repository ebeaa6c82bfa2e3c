namespace Serve.Server.Grammar;

/// <summary>A JSON schema uses something the grammar converter cannot enforce; Pointer is where (JSON Pointer).</summary>
internal sealed class JsonSchemaNotSupportedException(string message, string pointer) : Exception($"{message} (at '{(pointer.Length == 0 ? "/" : pointer)}')")
{
    public string Pointer { get; } = pointer;
}
