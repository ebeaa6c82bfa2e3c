using System.Text;
using Serve.Llama;
using Serve.Models;

namespace Serve.Server.Tests;

/// <summary>
/// A made model's vocabulary for checking grammars with llama.cpp itself: a grammar is fed a text byte by byte
/// (through the vocabulary's single-byte tokens), so acceptance does not depend on how the text would tokenize.
/// </summary>
public sealed class GrammarFixture : IDisposable
{
    private readonly string _directory;
    private readonly Dictionary<byte, int> _byteTokens = [];

    public GrammarFixture()
    {
        _directory = Path.Combine(Path.GetTempPath(), "serve-grammar-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        Model = LlamaModel.Load(ModelMaker.BuildTestModel(_directory), new LlamaModelOptions { VocabOnly = true });
        for (var token = 0; token < Model.Vocab.Count; token++)
        {
            var piece = Model.Vocab.TokenToPiece(token);
            if (piece.Length == 1) _byteTokens.TryAdd(piece[0], token);
        }
    }

    public LlamaModel Model { get; }

    /// <summary>True when llama.cpp's grammar accepts the whole text and may end there.</summary>
    public bool Accepts(string gbnf, string text)
    {
        LlamaSamplerChain chain;
        try
        {
            chain = new LlamaSamplerChain().Grammar(Model, gbnf);
        }
        catch (LlamaException e)
        {
            throw new InvalidOperationException($"llama.cpp refused the grammar ({e.Message}):\n{gbnf}", e);
        }
        using var _ = chain;
        try
        {
            foreach (var b in Encoding.UTF8.GetBytes(text))
            {
                Assert.True(_byteTokens.TryGetValue(b, out var token), $"the test vocabulary has no single-byte token for 0x{b:x2}");
                chain.Accept(token);
            }
            chain.Accept(Model.Vocab.Eos); // only allowed once the grammar is complete
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        Model.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }
}
