namespace Serve.Models;

/// <summary>The fixed head of every vocabulary this project learns; learned pieces follow it.</summary>
public static class SpmVocabLayout
{
    public const int UnkId = 0;
    public const int BosId = 1;
    public const int EosId = 2;
    public const int FirstByteId = 3;
    public const int ImStartId = FirstByteId + 256;
    public const int ImEndId = ImStartId + 1;
    public const int FirstLearnedId = ImEndId + 1;

    public const string Unk = "<unk>";
    public const string Bos = "<s>";
    public const string Eos = "</s>";
    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";

    /// <summary>SentencePiece's visible space.</summary>
    public const char SpaceMarker = '\u2581';

    /// <summary>
    /// ChatML in the Jinja form Hugging Face models ship; llama.cpp detects it as "chatml" by its
    /// <c>&lt;|im_start|&gt;</c> marker and formats messages with its own built-in code.
    /// </summary>
    public const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    public static string ByteTokenText(int value) => $"<0x{value:X2}>";
}
