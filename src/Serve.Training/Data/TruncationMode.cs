namespace Serve.Training.Data;

/// <summary>What to do with a conversation longer than the maximum sequence length.</summary>
public enum TruncationMode
{
    /// <summary>Keep the start, cut the end (answers cut off lose their tail).</summary>
    Right,

    /// <summary>Keep the end (the last answer and the turns nearest it); the BOS token stays first.</summary>
    Left,

    /// <summary>Leave the conversation out; it is reported by line number.</summary>
    Drop,
}
