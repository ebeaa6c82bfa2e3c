using System.Security.Cryptography;
using System.Text;
using Serve.Templates;

namespace Serve.Server.Tools;

/// <summary>What a piece of generated text turned out to be.</summary>
internal abstract record ToolStreamEvent;
/// <summary>Plain answer text.</summary>
internal sealed record ContentEvent(string Text) : ToolStreamEvent;
/// <summary>A call began: its index in the response, a new id, and the function's name.</summary>
internal sealed record CallStartEvent(int Index, string Id, string Name) : ToolStreamEvent;
/// <summary>More of a call's arguments JSON.</summary>
internal sealed record ArgumentsEvent(int Index, string Fragment) : ToolStreamEvent;

/// <summary>
/// Reads the model's output as it streams and splits it into answer text and tool calls written in
/// <see cref="GenericToolFormat"/> (the form the tool grammar enforces). Output that starts with "&lt;tool_call&gt;" is
/// calls; anything else is text. A call's start is reported as soon as its name is complete and its arguments
/// fragment by fragment, so a streamed response carries them as OpenAI's deltas do. The same reader makes the whole
/// (non-streamed) response, so both agree.
/// </summary>
internal sealed class ToolCallStream
{
    private const string NamePrefix = GenericToolFormat.CallOpen + "{\"name\": \"";
    private const string ArgumentsPrefix = "\", \"arguments\": ";
    private const string CallSuffix = "}" + GenericToolFormat.CallClose;

    private enum State { Undecided, Text, Open, Name, BetweenNameAndArguments, Arguments, Close, BetweenCalls }

    private readonly StringBuilder _pending = new();
    private readonly StringBuilder _name = new();
    private readonly List<(string Id, string Name, StringBuilder Arguments)> _calls = [];
    private State _state = State.Undecided;
    private int _depth;
    private bool _inString;
    private bool _escape;

    public IReadOnlyList<(string Id, string Name, string Arguments)> Calls => _calls.Select(c => (c.Id, c.Name, c.Arguments.ToString())).ToList();
    public bool HasCalls => _calls.Count > 0;
    /// <summary>True when the output ended inside a call (the token limit cut it).</summary>
    public bool Incomplete => _state is State.Open or State.Name or State.BetweenNameAndArguments or State.Arguments or State.Close;

    public List<ToolStreamEvent> Feed(string text)
    {
        var events = new List<ToolStreamEvent>();
        var content = new StringBuilder();
        foreach (var c in text)
        {
            switch (_state)
            {
                case State.Undecided:
                    _state = c == '<' ? State.Open : State.Text;
                    if (_state == State.Open) _pending.Append(c);
                    else content.Append(c);
                    break;
                case State.Text:
                    content.Append(c);
                    break;
                case State.Open:
                case State.BetweenCalls:
                    if (_state == State.BetweenCalls && c == '\n' && _pending.Length == 0) break;
                    _state = State.Open;
                    _pending.Append(c);
                    Expect(NamePrefix);
                    if (_pending.Length == NamePrefix.Length)
                    {
                        _pending.Clear();
                        _name.Clear();
                        _state = State.Name;
                    }
                    break;
                case State.Name:
                    if (c == '"')
                    {
                        _state = State.BetweenNameAndArguments;
                        _pending.Append(c);
                    }
                    else _name.Append(c);
                    break;
                case State.BetweenNameAndArguments:
                    _pending.Append(c);
                    Expect(ArgumentsPrefix);
                    if (_pending.Length == ArgumentsPrefix.Length)
                    {
                        _pending.Clear();
                        var id = NewCallId();
                        _calls.Add((id, _name.ToString(), new StringBuilder()));
                        events.Add(new CallStartEvent(_calls.Count - 1, id, _name.ToString()));
                        _state = State.Arguments;
                        _depth = 0;
                        _inString = _escape = false;
                    }
                    break;
                case State.Arguments:
                {
                    var arguments = _calls[^1].Arguments;
                    var before = arguments.Length;
                    arguments.Append(c);
                    if (_inString)
                    {
                        if (_escape) _escape = false;
                        else if (c == '\\') _escape = true;
                        else if (c == '"') _inString = false;
                    }
                    else if (c == '"') _inString = true;
                    else if (c is '{' or '[') _depth++;
                    else if (c is '}' or ']')
                    {
                        _depth--;
                        if (_depth == 0) _state = State.Close;
                    }
                    AppendArguments(events, _calls.Count - 1, arguments.ToString(before, 1));
                    break;
                }
                case State.Close:
                    _pending.Append(c);
                    Expect(CallSuffix);
                    if (_pending.Length == CallSuffix.Length)
                    {
                        _pending.Clear();
                        _state = State.BetweenCalls;
                    }
                    break;
            }
        }
        if (content.Length > 0) events.Insert(0, new ContentEvent(content.ToString()));
        return events;
    }

    /// <summary>Fragments of one Feed call for the same call are joined into one event.</summary>
    private static void AppendArguments(List<ToolStreamEvent> events, int index, string fragment)
    {
        if (events.Count > 0 && events[^1] is ArgumentsEvent last && last.Index == index)
            events[^1] = last with { Fragment = last.Fragment + fragment };
        else events.Add(new ArgumentsEvent(index, fragment));
    }

    private void Expect(string literal)
    {
        var n = _pending.Length;
        if (n > literal.Length || _pending[n - 1] != literal[n - 1])
            throw new InvalidOperationException($"The model's tool call does not follow the tool format (expected '{literal}', got '{_pending}').");
    }

    private static string NewCallId()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return "call_" + RandomNumberGenerator.GetString(alphabet, 24);
    }
}
