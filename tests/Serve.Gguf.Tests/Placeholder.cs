namespace Serve.Gguf.Tests;

public class Placeholder { [Fact] public void Builds() { } }
