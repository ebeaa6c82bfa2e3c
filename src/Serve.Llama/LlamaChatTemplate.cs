using System.Runtime.InteropServices;
using System.Text;
using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// llama.cpp's built-in chat formatting (llama_chat_apply_template). It does not run Jinja: it recognises a
/// template by name ("chatml", "llama3", ...) or by markers in the template text.
/// </summary>
public static class LlamaChatTemplate
{
    /// <summary>Names of the templates llama.cpp formats natively.</summary>
    public static unsafe IReadOnlyList<string> BuiltInTemplates
    {
        get
        {
            LlamaBackend.Initialize();
            var count = NativeApi.llama_chat_builtin_templates(null, 0);
            var names = new byte*[count];
            fixed (byte** p = names)
                count = Math.Min(count, NativeApi.llama_chat_builtin_templates(p, (nuint)names.Length));
            var result = new string[count];
            for (var i = 0; i < count; i++) result[i] = NativeApi.PtrToString(names[i]) ?? "";
            return result;
        }
    }

    /// <summary>Formats with the model's own template (template null) or the given template name/text.</summary>
    public static string Apply(LlamaModel model, string? template, IReadOnlyList<(string Role, string Content)> messages, bool addAssistant)
    {
        ArgumentNullException.ThrowIfNull(model);
        template ??= model.ChatTemplate
            ?? throw new LlamaException("The model has no chat template (tokenizer.chat_template); pass a template name.");
        return Apply(template, messages, addAssistant);
    }

    /// <summary>
    /// Formats messages with a template name (see <see cref="BuiltInTemplates"/>) or template text. addAssistant
    /// ends with the assistant turn's opening. Throws LlamaException for a template llama.cpp does not know.
    /// </summary>
    public static unsafe string Apply(string template, IReadOnlyList<(string Role, string Content)> messages, bool addAssistant)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(messages);
        LlamaBackend.Initialize();

        // All strings go into one pinned UTF-8 block; the message structs point into it.
        var strings = new List<byte[]>(messages.Count * 2 + 1) { Utf8Z(template) };
        foreach (var (role, content) in messages)
        {
            strings.Add(Utf8Z(role ?? throw new ArgumentException("A message role is null.", nameof(messages))));
            strings.Add(Utf8Z(content ?? ""));
        }
        var handles = strings.Select(s => GCHandle.Alloc(s, GCHandleType.Pinned)).ToArray();
        try
        {
            var chat = new LlamaChatMessage[Math.Max(messages.Count, 1)];
            for (var i = 0; i < messages.Count; i++)
            {
                chat[i].Role = (byte*)handles[1 + 2 * i].AddrOfPinnedObject();
                chat[i].Content = (byte*)handles[2 + 2 * i].AddrOfPinnedObject();
            }
            var tmpl = (byte*)handles[0].AddrOfPinnedObject();
            var totalChars = messages.Sum(m => (m.Content?.Length ?? 0) + m.Role.Length);
            var buffer = new byte[Math.Max(256, totalChars * 2 + 128)];
            fixed (LlamaChatMessage* c = chat)
            {
                var n = Call(tmpl, c, buffer);
                if (n < 0) throw new LlamaException($"Chat template '{Shorten(template)}' is not supported by llama.cpp (llama_chat_apply_template returned {n}).");
                if (n > buffer.Length)
                {
                    buffer = new byte[n];
                    n = Call(tmpl, c, buffer);
                }
                return Encoding.UTF8.GetString(buffer, 0, n);
            }
        }
        finally
        {
            foreach (var h in handles) h.Free();
        }

        int Call(byte* tmpl, LlamaChatMessage* c, byte[] output)
        {
            fixed (byte* o = output)
                return NativeApi.llama_chat_apply_template(tmpl, c, (nuint)messages.Count, addAssistant, o, output.Length);
        }
    }

    private static byte[] Utf8Z(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }

    private static string Shorten(string template) => template.Length <= 40 ? template : template[..40] + "...";
}
