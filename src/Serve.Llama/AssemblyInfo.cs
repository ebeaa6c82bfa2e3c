using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Serve.Llama.Tests")]
