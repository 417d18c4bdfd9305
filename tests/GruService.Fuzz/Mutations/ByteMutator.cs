using System.Buffers.Binary;

namespace GruService.Fuzz.Mutations;

/// <summary>Format-blind mutations of a byte string, each returning a new array (the input is never changed).</summary>
public static class ByteMutator
{
    /// <summary>Bytes that sit on a boundary of some reading of them: zero, all ones, the signed extremes.</summary>
    private static readonly byte[] InterestingBytes = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE, 0x20, 0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D];

    /// <summary>Little-endian float32s that probe non-finite and extreme handling.</summary>
    private static readonly float[] InterestingFloats =
    [
        float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, -float.MaxValue, float.Epsilon,
        -0f, 1e30f, -1e30f, 3e38f, 1e-38f, 65504f,
    ];

    public delegate byte[] Mutation(Random random, byte[] input);

    private static readonly (string Name, Mutation Apply)[] Mutations =
    [
        ("bit_flip", BitFlip),
        ("interesting_byte", InterestingByte),
        ("random_byte", RandomByte),
        ("truncate", Truncate),
        ("extend", Extend),
        ("duplicate_chunk", DuplicateChunk),
        ("delete_chunk", DeleteChunk),
        ("overwrite_chunk", OverwriteChunk),
    ];

    /// <summary>One of the mutations above, chosen at random; its name is returned for the reproducer.</summary>
    public static byte[] MutateOnce(Random random, byte[] input, out string name)
    {
        var (mutationName, apply) = Mutations[random.Next(Mutations.Length)];
        name = mutationName;
        return apply(random, input);
    }

    /// <summary>A mutation confined to bytes [start, end) of the input (length changes stay inside the range).</summary>
    public static byte[] MutateRange(Random random, byte[] input, int start, int end, out string name)
    {
        if (end <= start) return MutateOnce(random, input, out name);
        byte[] middle = MutateOnce(random, input[start..end], out name);
        return [.. input.AsSpan(0, start), .. middle, .. input.AsSpan(end)];
    }

    public static byte[] BitFlip(Random random, byte[] input)
    {
        if (input.Length == 0) return [0x01];
        byte[] output = (byte[])input.Clone();
        output[random.Next(output.Length)] ^= (byte)(1 << random.Next(8));
        return output;
    }

    public static byte[] InterestingByte(Random random, byte[] input)
    {
        if (input.Length == 0) return [InterestingBytes[random.Next(InterestingBytes.Length)]];
        byte[] output = (byte[])input.Clone();
        output[random.Next(output.Length)] = InterestingBytes[random.Next(InterestingBytes.Length)];
        return output;
    }

    public static byte[] RandomByte(Random random, byte[] input)
    {
        if (input.Length == 0) return [(byte)random.Next(256)];
        byte[] output = (byte[])input.Clone();
        output[random.Next(output.Length)] = (byte)random.Next(256);
        return output;
    }

    public static byte[] Truncate(Random random, byte[] input) =>
        input.Length == 0 ? input : input[..random.Next(input.Length)];

    /// <summary>Zeros, 0xFF, random bytes or a copy of part of the input, appended or inserted.</summary>
    public static byte[] Extend(Random random, byte[] input)
    {
        int length = random.Next(4) == 0 ? random.Next(1, 4096) : random.Next(1, 16);
        byte[] extra = new byte[length];
        switch (random.Next(4))
        {
            case 0: break;
            case 1: extra.AsSpan().Fill(0xFF); break;
            case 2: random.NextBytes(extra); break;
            default:
                for (int i = 0; i < length && input.Length > 0; i++) extra[i] = input[random.Next(input.Length)];
                break;
        }
        int at = random.Next(2) == 0 ? input.Length : random.Next(input.Length + 1);
        return [.. input.AsSpan(0, at), .. extra, .. input.AsSpan(at)];
    }

    public static byte[] DuplicateChunk(Random random, byte[] input)
    {
        if (input.Length == 0) return input;
        var (start, length) = Chunk(random, input.Length);
        int at = random.Next(input.Length + 1);
        return [.. input.AsSpan(0, at), .. input.AsSpan(start, length), .. input.AsSpan(at)];
    }

    public static byte[] DeleteChunk(Random random, byte[] input)
    {
        if (input.Length == 0) return input;
        var (start, length) = Chunk(random, input.Length);
        return [.. input.AsSpan(0, start), .. input.AsSpan(start + length)];
    }

    /// <summary>A chunk of the input copied over another place of it (same length).</summary>
    public static byte[] OverwriteChunk(Random random, byte[] input)
    {
        if (input.Length < 2) return input;
        var (start, length) = Chunk(random, input.Length);
        byte[] output = (byte[])input.Clone();
        int at = random.Next(input.Length - length + 1);
        input.AsSpan(start, length).CopyTo(output.AsSpan(at));
        return output;
    }

    /// <summary>The head of one input followed by the tail of another.</summary>
    public static byte[] Splice(Random random, byte[] first, byte[] second)
    {
        int cut = random.Next(first.Length + 1);
        int from = second.Length == 0 ? 0 : random.Next(second.Length);
        return [.. first.AsSpan(0, cut), .. second.AsSpan(from)];
    }

    /// <summary>A 4-byte-aligned float32 in [start, end) set to NaN, an infinity or an extreme finite value.</summary>
    public static byte[] InterestingFloat(Random random, byte[] input, int start, int end)
    {
        int slots = (end - start) / 4;
        if (slots <= 0) return input;
        byte[] output = (byte[])input.Clone();
        BinaryPrimitives.WriteSingleLittleEndian(output.AsSpan(start + 4 * random.Next(slots)), InterestingFloats[random.Next(InterestingFloats.Length)]);
        return output;
    }

    /// <summary>Mostly short chunks, sometimes long ones.</summary>
    private static (int Start, int Length) Chunk(Random random, int total)
    {
        int maxLength = random.Next(4) == 0 ? total : Math.Min(total, 64);
        int length = random.Next(1, maxLength + 1);
        return (random.Next(total - length + 1), length);
    }
}
