namespace Serve.Llama.Tests;

public class Placeholder { [Fact] public void Builds() { } }
