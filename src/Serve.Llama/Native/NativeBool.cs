namespace Serve.Llama.Native;

/// <summary>C's one-byte <c>bool</c>, so structs holding it stay blittable and match the header byte for byte.</summary>
internal readonly struct NativeBool : IEquatable<NativeBool>
{
    private readonly byte _value;

    private NativeBool(bool value) => _value = value ? (byte)1 : (byte)0;

    public static implicit operator bool(NativeBool value) => value._value != 0;
    public static implicit operator NativeBool(bool value) => new(value);

    public bool Equals(NativeBool other) => (_value != 0) == (other._value != 0);
    public override bool Equals(object? obj) => obj is NativeBool other && Equals(other);
    public override int GetHashCode() => _value != 0 ? 1 : 0;
    public override string ToString() => (_value != 0).ToString();
}
