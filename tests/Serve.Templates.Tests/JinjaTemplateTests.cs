using Serve.Templates.Jinja;

namespace Serve.Templates.Tests;

public sealed class JinjaTemplateTests
{
    private static string Render(string source, params (string Name, object? Value)[] variables) =>
        Template.Parse(source).Render(variables.ToDictionary(v => v.Name, v => v.Value));

    [Theory]
    [InlineData("{{ 1 + 2 * 3 }}", "7")]
    [InlineData("{{ 7 // 2 }} {{ 7 / 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ -3|abs }}", "3 3.5 1 1024 3")]
    [InlineData("{{ 'a' ~ 1 ~ none }}", "a1None")]
    [InlineData("{{ [1, 2, 3][-1] }} {{ 'hello'[1:3] }} {{ [1,2,3,4][::-1] }}", "3 el [4, 3, 2, 1]")]
    [InlineData("{{ 'x' if false }}|{{ 'y' if true else 'z' }}", "|y")]
    [InlineData("{{ {'b': 1, 'a': 2}|tojson }} {{ [1, 'x', true, none]|tojson }}", "{\"b\": 1, \"a\": 2} [1, \"x\", true, null]")]
    [InlineData("{{ {'a': [1]}|tojson(indent=2) }}", "{\n  \"a\": [\n    1\n  ]\n}")]
    [InlineData("{{ '  x  '|trim }}|{{ 'abc'|length }}|{{ 'Hi'|upper }}|{{ 'a,b'.split(',')|join('-') }}", "x|3|HI|a-b")]
    [InlineData("{{ undefined_name|default('d') }} {{ ''|default('e', true) }}", "d e")]
    [InlineData("{{ 'a' in 'cat' }} {{ 2 not in [1, 3] }} {{ 'k' in {'k': 1} }}", "True True True")]
    [InlineData("{{ x is defined }} {{ none is none }} {{ 3 is odd }} {{ 'a' is string }} {{ {} is mapping }}", "False True True True True")]
    [InlineData("{{ '{}-{}'.format(1, 'b') }} {{ '%s=%d'|format('n', 4) }}", "1-b n=4")]
    [InlineData("{% for k, v in {'a': 1, 'b': 2}|dictsort(reverse=true) %}{{ k }}{{ v }}{% endfor %}", "b2a1")]
    [InlineData("{{ [{'t': 'a'}, {'t': 'b'}]|selectattr('t', 'equalto', 'b')|map(attribute='t')|list }}", "['b']")]
    public void Expressions_EvaluateAsJinja(string source, string expected) => Assert.Equal(expected, Render(source));

    [Fact]
    public void Loop_VariablesAndScoping_FollowJinja()
    {
        const string source = "{% set outer = 'o' %}{% set ns = namespace(n=0) %}" +
            "{% for x in [1, 2, 3] if x != 2 %}{% set outer = 'inner' %}{% set ns.n = ns.n + x %}{{ loop.index }}/{{ loop.length }}{{ ',' if not loop.last }}{% endfor %}" +
            " {{ outer }} {{ ns.n }}{% for x in [] %}no{% else %} empty{% endfor %}";
        Assert.Equal("1/2,2/2 o 4 empty", Render(source));
    }

    [Fact]
    public void BreakContinue_StopOrSkipIterations()
    {
        Assert.Equal("13", Render("{% for x in [1, 2, 3, 4, 5] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"));
    }

    [Fact]
    public void Macro_DefaultsKeywordsAndRecursion()
    {
        const string source = "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}{% endmacro %}" +
            "{% macro count(n) %}{{ n }}{% if n > 0 %}{{ count(n - 1) }}{% endif %}{% endmacro %}" +
            "{{ greet('Ann') }}; {{ greet('Bo', greeting='Hi') }}; {{ count(3) }}";
        Assert.Equal("Hello, Ann; Hi, Bo; 3210", Render(source));
    }

    [Fact]
    public void Whitespace_TrimAndLstripBlocksWithDashControl()
    {
        const string source = "<a>\n    {% if true %}\n    x\n    {% endif %}\n</a>\n{{- ' y ' -}}\n z";
        Assert.Equal("<a>\n    x\n</a> y z", Render(source));
    }

    [Fact]
    public void SetBlockAndFilterBlock_CaptureOutput()
    {
        Assert.Equal("[HELLO]", Render("{% set s %}{% filter upper %}  hello  {% endfilter %}{% endset %}[{{ s|trim }}]"));
    }

    [Fact]
    public void RaiseException_ThrowsTheTemplatesMessage()
    {
        var e = Assert.Throws<TemplateRaisedException>(() => Render("{% if messages|length == 0 %}{{ raise_exception('need messages') }}{% endif %}", ("messages", new List<object?>())));
        Assert.Equal("need messages", e.TemplateMessage);
    }

    [Fact]
    public void SyntaxError_NamesTheLine()
    {
        var e = Assert.Throws<TemplateException>(() => Template.Parse("line one\n{% if x %}\nno end"));
        Assert.Contains("endif", e.Message);
        var unknown = Assert.Throws<TemplateException>(() => Render("a\n\n{{ x|nosuchfilter }}"));
        Assert.Equal(3, unknown.Line);
    }

    [Fact]
    public void Variables_FromJsonKeepTypes()
    {
        var messages = Values.FromJson(System.Text.Json.Nodes.JsonNode.Parse("""[{"role":"user","content":"hi","n":2,"f":1.5,"ok":true}]"""));
        Assert.Equal("user hi 3 2.5 True", Render("{% for m in messages %}{{ m.role }} {{ m['content'] }} {{ m.n + 1 }} {{ m.f + 1 }} {{ m.ok }}{% endfor %}", ("messages", messages)));
    }
}

public sealed class ChatTemplateFallbackTests
{
    [Fact]
    public void ForModel_NoTemplate_IsChatMl()
    {
        var template = ChatTemplate.ForModel(null, "<s>", "</s>", tokenizerAddsBos: true);
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", template.Render([new ChatTurn("user", "hi")]));
    }

    [Fact]
    public void Render_TokenizerAddsBos_TemplatesBosIsNotDoubled()
    {
        const string source = "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}";
        Assert.Equal("hi", new ChatTemplate(source, "<s>", "</s>", tokenizerAddsBos: true).Render([new ChatTurn("user", "hi")]));
        Assert.Equal("<s>hi", new ChatTemplate(source, "<s>", "</s>").Render([new ChatTurn("user", "hi")]));
    }
}
