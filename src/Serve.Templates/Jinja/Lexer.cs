using System.Text;

namespace Serve.Templates.Jinja;

/// <summary>
/// Splits template source into text and tag tokens with the whitespace rules chat templates are written for
/// (Hugging Face renders them with trim_blocks and lstrip_blocks on): a block or comment tag drops the newline right
/// after it and the indentation before it on its own line; "-" inside a tag strips all whitespace on that side, "+"
/// keeps it.
/// </summary>
internal static class Lexer
{
    private static readonly string[] Operators = ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "|", ".", ",", ":", "(", ")", "[", "]", "{", "}", "<", ">", "="];

    public static List<Token> Tokenize(string source)
    {
        var tokens = new List<Token>();
        var pos = 0;
        var stripLeading = false;
        var dropNewline = false;
        while (true)
        {
            var open = FindOpen(source, pos);
            var text = source[pos..(open < 0 ? source.Length : open)];
            if (stripLeading) text = text.TrimStart();
            else if (dropNewline) text = text.StartsWith("\r\n", StringComparison.Ordinal) ? text[2..] : text.StartsWith('\n') ? text[1..] : text;
            stripLeading = dropNewline = false;
            if (open < 0)
            {
                if (text.Length > 0) tokens.Add(new Token(TokenKind.Text, text, LineOf(source, pos)));
                break;
            }
            var kind = source[open + 1];
            var modifier = open + 2 < source.Length ? source[open + 2] : '\0';
            if (modifier == '-') text = text.TrimEnd();
            else if (kind != '{' && modifier != '+') text = text[..^IndentBefore(source, pos, open, text.Length)];
            if (text.Length > 0) tokens.Add(new Token(TokenKind.Text, text, LineOf(source, pos)));

            var line = LineOf(source, open);
            var bodyStart = open + 2 + (modifier is '-' or '+' ? 1 : 0);
            if (kind == '#')
            {
                var close = source.IndexOf("#}", bodyStart, StringComparison.Ordinal);
                if (close < 0) throw new TemplateException("unclosed comment", line);
                var closeModifier = source[close - 1];
                stripLeading = closeModifier == '-' && close - 1 >= bodyStart;
                dropNewline = !stripLeading && closeModifier != '+';
                pos = close + 2;
                continue;
            }
            tokens.Add(new Token(kind == '{' ? TokenKind.OutputStart : TokenKind.StatementStart, "", line));
            var first = tokens.Count;
            pos = TokenizeTag(source, bodyStart, kind == '{' ? '}' : '%', tokens, out var closeMod);
            tokens.Add(new Token(kind == '{' ? TokenKind.OutputEnd : TokenKind.StatementEnd, "", LineOf(source, pos)));
            stripLeading = closeMod == '-';
            dropNewline = kind == '%' && closeMod == '\0';
            if (kind == '%' && tokens.Count == first + 2 && tokens[first] is { Kind: TokenKind.Name, Value: "raw" })
            {
                tokens.RemoveRange(first - 1, 3);
                pos = ReadRaw(source, pos, stripLeading, dropNewline, tokens, out stripLeading, out dropNewline);
            }
        }
        return tokens;
    }

    private static int FindOpen(string source, int from)
    {
        for (var i = source.IndexOf('{', from); i >= 0 && i + 1 < source.Length; i = source.IndexOf('{', i + 1))
            if (source[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    /// <summary>How many characters of spaces/tabs at the end of text start their line (lstrip_blocks).</summary>
    private static int IndentBefore(string source, int textStart, int open, int textLength)
    {
        var lineStart = source.LastIndexOf('\n', open - 1 < 0 ? 0 : open - 1) + 1;
        if (open == 0 || lineStart < textStart) return 0;
        for (var i = lineStart; i < open; i++)
            if (source[i] is not (' ' or '\t')) return 0;
        return Math.Min(open - lineStart, textLength);
    }

    private static int LineOf(string source, int pos)
    {
        var line = 1;
        for (var i = 0; i < pos && i < source.Length; i++) if (source[i] == '\n') line++;
        return line;
    }

    private static int TokenizeTag(string s, int i, char closeChar, List<Token> tokens, out char closeModifier)
    {
        var depth = 0;
        while (true)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
            if (i >= s.Length) throw new TemplateException("unclosed tag", LineOf(s, i));
            if (depth == 0)
            {
                if (s[i] == closeChar && i + 1 < s.Length && s[i + 1] == '}') { closeModifier = '\0'; return i + 2; }
                if (s[i] is '-' or '+' && i + 2 < s.Length && s[i + 1] == closeChar && s[i + 2] == '}') { closeModifier = s[i]; return i + 3; }
            }
            var line = LineOf(s, i);
            var c = s[i];
            if (char.IsLetter(c) || c == '_')
            {
                var start = i;
                while (i < s.Length && (char.IsLetterOrDigit(s[i]) || s[i] == '_')) i++;
                tokens.Add(new Token(TokenKind.Name, s[start..i], line));
            }
            else if (char.IsDigit(c))
            {
                var start = i;
                while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '_')) i++;
                var isFloat = false;
                if (i + 1 < s.Length && s[i] == '.' && char.IsDigit(s[i + 1]))
                {
                    isFloat = true;
                    i++;
                    while (i < s.Length && char.IsDigit(s[i])) i++;
                }
                if (i < s.Length && s[i] is 'e' or 'E' && i + 1 < s.Length && (char.IsDigit(s[i + 1]) || s[i + 1] is '-' or '+'))
                {
                    isFloat = true;
                    i += 2;
                    while (i < s.Length && char.IsDigit(s[i])) i++;
                }
                tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, s[start..i].Replace("_", ""), line));
            }
            else if (c is '\'' or '"')
            {
                i = ReadString(s, i, out var value);
                tokens.Add(new Token(TokenKind.String, value, line));
            }
            else
            {
                var op = Operators.FirstOrDefault(o => string.CompareOrdinal(s, i, o, 0, o.Length) == 0)
                    ?? throw new TemplateException($"unexpected character '{c}'", line);
                if (op is "(" or "[" or "{") depth++;
                else if (op is ")" or "]" or "}") depth--;
                tokens.Add(new Token(TokenKind.Operator, op, line));
                i += op.Length;
            }
        }
    }

    private static int ReadString(string s, int i, out string value)
    {
        var quote = s[i++];
        var sb = new StringBuilder();
        while (i < s.Length && s[i] != quote)
        {
            if (s[i] == '\\' && i + 1 < s.Length)
            {
                var e = s[i + 1];
                i += 2;
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case '0': sb.Append('\0'); break;
                    case 'u' when i + 4 <= s.Length:
                        sb.Append((char)Convert.ToInt32(s.Substring(i, 4), 16));
                        i += 4;
                        break;
                    case 'x' when i + 2 <= s.Length:
                        sb.Append((char)Convert.ToInt32(s.Substring(i, 2), 16));
                        i += 2;
                        break;
                    case '\\' or '\'' or '"': sb.Append(e); break;
                    case '\n': break;
                    default: sb.Append('\\').Append(e); break;
                }
            }
            else sb.Append(s[i++]);
        }
        if (i >= s.Length) throw new TemplateException("unclosed string literal", LineOf(s, i));
        value = sb.ToString();
        return i + 1;
    }

    private static int ReadRaw(string s, int pos, bool stripLeading, bool dropNewline, List<Token> tokens, out bool nextStrip, out bool nextDrop)
    {
        var search = pos;
        while (true)
        {
            var open = s.IndexOf("{%", search, StringComparison.Ordinal);
            if (open < 0) throw new TemplateException("raw block without endraw", LineOf(s, pos));
            var j = open + 2;
            var mod = j < s.Length && s[j] is '-' or '+' ? s[j++] : '\0';
            while (j < s.Length && char.IsWhiteSpace(s[j])) j++;
            if (string.CompareOrdinal(s, j, "endraw", 0, 6) != 0) { search = open + 2; continue; }
            j += 6;
            while (j < s.Length && char.IsWhiteSpace(s[j])) j++;
            var closeMod = j < s.Length && s[j] is '-' or '+' ? s[j++] : '\0';
            if (string.CompareOrdinal(s, j, "%}", 0, 2) != 0) { search = open + 2; continue; }
            var text = s[pos..open];
            if (stripLeading) text = text.TrimStart();
            else if (dropNewline && text.StartsWith('\n')) text = text[1..];
            if (mod == '-') text = text.TrimEnd();
            if (text.Length > 0) tokens.Add(new Token(TokenKind.Text, text, LineOf(s, pos)));
            nextStrip = closeMod == '-';
            nextDrop = closeMod == '\0';
            return j + 2;
        }
    }
}
