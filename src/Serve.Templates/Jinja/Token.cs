namespace Serve.Templates.Jinja;

internal enum TokenKind { Text, OutputStart, OutputEnd, StatementStart, StatementEnd, Name, String, Integer, Float, Operator, End }

internal readonly record struct Token(TokenKind Kind, string Value, int Line);
