namespace Serve.Models.Tests;

public class Placeholder { [Fact] public void Builds() { } }
