using System.Text.Json;
using Serve.Llama;
using Serve.Server.Grammar;

namespace Serve.Server.Tests;

public sealed class JsonSchemaToGbnfTests(GrammarFixture grammar) : IClassFixture<GrammarFixture>
{
    private string Convert(string schema)
    {
        using var doc = JsonDocument.Parse(schema);
        return JsonSchemaToGbnf.Convert(doc.RootElement);
    }

    [Theory]
    [InlineData("""{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]}""",
        """{"name":"Ada","age":36}""", """{"name":"Ada"}""")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"boolean"},"c":{"type":"null"}},"required":["b"]}""",
        """{"b":true}""", """{"a":1}""")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"boolean"},"c":{"type":"null"}},"required":["b"]}""",
        """{"a":-12, "b":false,"c":null}""", """{"b":false,"a":1}""")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"number"}}}""", """{}""", """{"a":01}""")]
    [InlineData("""{"type":"object","properties":{"a":{"type":"number"}}}""", """{"a":-0.5e+3}""", """{"a":"1"}""")]
    [InlineData("""{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""", "[1, 2,3]", "[]")]
    [InlineData("""{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""", "[7]", "[1,2,3,4]")]
    [InlineData("""{"type":"array","items":{"type":"string"}}""", "[]", "[1]")]
    [InlineData("""{"enum":["red","green",3,null]}""", "\"green\"", "\"blue\"")]
    [InlineData("""{"enum":["red","green",3,null]}""", "null", "4")]
    [InlineData("""{"const":{"k":[1,"x"]}}""", """{"k":[1,"x"]}""", """{"k":[1]}""")]
    [InlineData("""{"anyOf":[{"type":"string"},{"type":"integer"}]}""", "42", "true")]
    [InlineData("""{"oneOf":[{"type":"string","maxLength":2},{"type":"boolean"}]}""", "\"ab\"", "\"abc\"")]
    [InlineData("""{"type":"string","minLength":2}""", "\"a\\\"\\u00e9\"", "\"a\"")]
    [InlineData("""{"type":["string","null"]}""", "null", "1")]
    [InlineData("""{"type":"integer","nullable":true,"description":"annotations are ignored","format":"int32"}""", "null", "1.5")]
    [InlineData("""{"type":"object","additionalProperties":{"type":"integer"}}""", """{"x":1,"y":2}""", """{"x":"1"}""")]
    [InlineData("""{"type":"object","properties":{"café":{"const":"naïve \"q\""}},"required":["café"]}""", """{"café":"naïve \"q\""}""", """{"cafe":"naïve \"q\""}""")]
    [InlineData("""{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"]}},"$ref":"#/$defs/node"}""",
        """{"v":1,"next":{"v":2,"next":null}}""", """{"v":1,"next":{"v":2}}""")]
    [InlineData("""{"type":"object","properties":{"tags":{"type":"array","items":{"enum":["a","b"]}}},"required":["tags"],"additionalProperties":false}""",
        """{"tags":["a","b","a"]}""", """{"tags":["c"]}""")]
    public void Convert_Schema_LlamaCppAcceptsValidAndRejectsInvalid(string schema, string valid, string invalid)
    {
        var gbnf = Convert(schema);
        Assert.True(grammar.Accepts(gbnf, valid), $"valid instance {valid} rejected by\n{gbnf}");
        Assert.False(grammar.Accepts(gbnf, invalid), $"invalid instance {invalid} accepted by\n{gbnf}");
    }

    [Fact]
    public void AnyObject_AcceptsObjectsOnly()
    {
        var gbnf = JsonSchemaToGbnf.AnyObject();
        Assert.True(grammar.Accepts(gbnf, """{"a":[1,{"b":null}],"c":"d"}"""));
        Assert.True(grammar.Accepts(gbnf, "{}"));
        Assert.False(grammar.Accepts(gbnf, "[1]"));
        Assert.False(grammar.Accepts(gbnf, """{"a":}"""));
    }

    [Fact]
    public void Convert_ManyOptionalProperties_StaysSmallAndLoads()
    {
        var properties = string.Join(',', Enumerable.Range(0, 40).Select(i => $"\"p{i}\":{{\"type\":\"integer\"}}"));
        var gbnf = Convert("{\"type\":\"object\",\"properties\":{" + properties + "}}");
        Assert.True(gbnf.Length < 40_000, $"grammar is {gbnf.Length} chars");
        Assert.True(grammar.Accepts(gbnf, """{"p3":1,"p39":2}"""));
        Assert.False(grammar.Accepts(gbnf, """{"p39":2,"p3":1}""")); // declared order
    }

    [Theory]
    [InlineData("""{"type":"string","pattern":"^a+$"}""", "/pattern")]
    [InlineData("""{"type":"integer","minimum":0}""", "/minimum")]
    [InlineData("""{"type":"object","properties":{"x":{"type":"number","multipleOf":2}}}""", "/properties/x/multipleOf")]
    [InlineData("""{"not":{"type":"string"}}""", "/not")]
    [InlineData("""{"type":"object","required":["missing"],"properties":{}}""", "/required")]
    [InlineData("""{"$ref":"https://example.com/schema.json"}""", "/$ref")]
    [InlineData("""{"type":"tuple"}""", "/type")]
    [InlineData("""{"allOf":[{"type":"string"},{"type":"integer"}]}""", "/allOf")]
    [InlineData("""false""", "")]
    public void Convert_UnsupportedKeyword_SaysWhere(string schema, string pointer)
    {
        var e = Assert.Throws<JsonSchemaNotSupportedException>(() => Convert(schema));
        Assert.Equal(pointer, e.Pointer);
    }

    [Fact]
    public void Grammar_IsRefusedByLlamaCppWhenBroken_SoTheCheckAboveMeansSomething()
    {
        Assert.ThrowsAny<LlamaException>(() => new LlamaSamplerChain().Grammar(grammar.Model, "root ::= (\"a\""));
    }
}
