using System.Globalization;
using System.Text;
using GruService.Api.Inference;
using GruService.Engine.Tests;

namespace GruService.Api.Tests.Inference;

public class InferenceRequestReaderTests
{
    private const int Features = 8;

    [Fact]
    public void TryRead_AllocatesNothingThatGrowsWithTheBody()
    {
        long fewSteps = BytesPerRead(Body(steps: 5));
        long manySteps = BytesPerRead(Body(steps: 500));
        // The batch's buffers come from the array pool: reading 100 times the numbers allocates no more.
        Assert.True(manySteps == fewSteps, $"5 steps allocated {fewSteps} bytes, 500 steps {manySteps} bytes");
        Assert.True(fewSteps < 512, $"a read allocated {fewSteps} bytes");
    }

    [Theory]
    [InlineData("[[1,2,3,4,5,6,7,8],[1,2,3,1e39,5,6,7,8]]", "inputs[0][1][3] is 1e39, not a finite float32 number.")]
    [InlineData("[1,2,1e39]", "inputs[0][2] is 1e39, not a finite float32 number.")]
    public void TryRead_NamesTheNumberThatIsNotAFiniteFloat(string sequence, string expected)
    {
        int inputSize = sequence.StartsWith("[[", StringComparison.Ordinal) ? Features : 1;
        using var batch = new InputBatch();
        string? error = InferenceRequestReader.TryRead(Encoding.UTF8.GetBytes($"{{\"inputs\":[{sequence}]}}"), "m", inputSize, new InferenceOptions(), batch);
        Assert.Equal(expected, error);
    }

    [Fact]
    public void TryRead_ReadsTheLoadTestsBodyWithoutTheJsonReader()
    {
        // 1 sequence of 50 steps of 8 numbers written %.3f from [-2, 2), as scripts/load-test/forecast.lua sends them.
        var random = new Random(7);
        byte[] body = Body(steps: 50, _ => (random.NextDouble() * 4 - 2).ToString("F3", CultureInfo.InvariantCulture));

        using var batch = new InputBatch();
        Assert.True(InferenceRequestReader.CanonicalReader.TryRead(body, Features, new InferenceOptions(), batch));
        Assert.Equal(Read(body, Features, new InferenceOptions(), jsonReaderOnly: true), Outcome.Of(null, batch));
        Assert.Equal([50], batch.Lengths.ToArray());
    }

    [Theory]
    [InlineData("0.1")]
    [InlineData("0.3")]
    [InlineData("-1.234")]
    [InlineData("0.0012")]
    [InlineData("16777217")]
    [InlineData("9007199254740991")] // 2^53 − 1, the largest mantissa read without the JSON reader
    [InlineData("0.0000000000000000000001")] // 22 digits after the point, the most read without the JSON reader
    [InlineData("123456789.123456")]
    [InlineData("8388608.5")] // half way between two floats, so rounded to even; a double one bit off would round away
    [InlineData("8388609.5")]
    [InlineData("4194304.25")]
    [InlineData("2097152.125")]
    [InlineData("-1048576.0625")]
    public void TryRead_ReadsCommonNumbersWithoutTheJsonReader_BitForBitAsItDoes(string number)
    {
        byte[] body = Encoding.UTF8.GetBytes($"{{\"inputs\":[[{number}]]}}");
        using var batch = new InputBatch();

        Assert.True(InferenceRequestReader.CanonicalReader.TryRead(body, 1, new InferenceOptions(), batch));
        Assert.Equal(Read(body, 1, new InferenceOptions(), jsonReaderOnly: true), Outcome.Of(null, batch));
        Assert.Equal(BitConverter.SingleToInt32Bits((float)double.Parse(number, CultureInfo.InvariantCulture)), BitConverter.SingleToInt32Bits(batch.Values[0]));
    }

    [Theory]
    [InlineData("9007199254740992")] // 2^53: a larger mantissa may not be exact
    [InlineData("9007199254740993")]
    [InlineData("0.00000000000000000000001")] // 23 digits after the point: 10^23 is not an exact double
    [InlineData("1.0000000000000000000000001")]
    [InlineData("340282346638528859811704183484516925440")] // float.MaxValue
    [InlineData("340282356779733661637539395458142568448")] // half way past it: not a finite float
    [InlineData("3.4028235e38")]
    [InlineData("1e3")]
    [InlineData("1E+3")]
    [InlineData("2.5e-3")]
    [InlineData("1e39")]
    [InlineData("1e-46")]
    [InlineData("01")]
    [InlineData("1.")]
    [InlineData(".5")]
    [InlineData("+1")]
    [InlineData("-")]
    [InlineData("-.5")]
    [InlineData("1.5.5")]
    [InlineData("0x10")]
    [InlineData("NaN")]
    [InlineData("\"1\"")]
    public void TryRead_LeavesUncommonNumbersToTheJsonReader_WithTheSameResult(string number)
    {
        byte[] body = Encoding.UTF8.GetBytes($"{{\"inputs\":[[{number}]]}}");
        using var batch = new InputBatch();

        Assert.False(InferenceRequestReader.CanonicalReader.TryRead(body, 1, new InferenceOptions(), batch));
        Assert.Equal(Read(body, 1, new InferenceOptions(), jsonReaderOnly: true), Read(body, 1, new InferenceOptions()));
    }

    [Theory]
    [InlineData("-0")]
    [InlineData("-0.0")]
    [InlineData("-0.000")]
    public void TryRead_ReadsMinusZeroAsNegativeZero(string number)
    {
        using var batch = new InputBatch();
        Assert.Null(InferenceRequestReader.TryRead(Encoding.UTF8.GetBytes($"{{\"inputs\":[[[{number}]]]}}"), "m", 1, new InferenceOptions(), batch));
        Assert.Equal(BitConverter.SingleToInt32Bits(-0f), BitConverter.SingleToInt32Bits(batch.Values[0]));
    }

    [Theory]
    [InlineData("1e3", 1000f)]
    [InlineData("16777217", 16777216f)]
    [InlineData("9007199254740993", 9007199254740992f)]
    public void TryRead_ReadsNumbersTheCommonShapeLeavesOut_AsBefore(string number, float expected)
    {
        using var batch = new InputBatch();
        Assert.Null(InferenceRequestReader.TryRead(Encoding.UTF8.GetBytes($"{{\"inputs\":[[{number}, 2]]}}"), "m", 1, new InferenceOptions(), batch));
        Assert.Equal([expected, 2f], batch.Values.ToArray());
    }

    [Fact]
    public void TryRead_GivesWhatTheJsonReaderGives_ForRandomBodies()
    {
        var random = new Random(20240611);
        int readWithoutJsonReader = 0;
        const int Bodies = 4000;
        for (int i = 0; i < Bodies; i++)
        {
            int inputSize = random.Next(4) switch { 0 => 1, 1 => 2, 2 => 3, _ => Features };
            InferenceOptions limits = RandomLimits(random);
            byte[] body = Encoding.UTF8.GetBytes(RandomBody(random, inputSize));

            AssertSameAsJsonReader(body, inputSize, limits);
            using var batch = new InputBatch();
            if (InferenceRequestReader.CanonicalReader.TryRead(body, inputSize, limits, batch))
                readWithoutJsonReader++;
        }
        // Both ways are exercised: the common shape is read on its own, the rest goes to the JSON reader.
        Assert.InRange(readWithoutJsonReader, Bodies / 10, Bodies * 9 / 10);
    }

    [Fact]
    public void TryRead_GivesWhatTheJsonReaderGives_ForMutatedBodies()
    {
        var random = new Random(1701);
        const string Bytes = "0123456789-+.eE,[]{}:\" \t\r\n\\u";
        for (int i = 0; i < 6000; i++)
        {
            int inputSize = random.Next(2) == 0 ? 1 : 3;
            var body = new List<byte>(Encoding.UTF8.GetBytes(RandomBody(random, inputSize, canonical: true)));
            for (int edits = random.Next(1, 4); edits > 0 && body.Count > 0; edits--)
            {
                int at = random.Next(body.Count);
                byte b = random.Next(4) == 0 ? (byte)random.Next(256) : (byte)Bytes[random.Next(Bytes.Length)];
                switch (random.Next(4))
                {
                    case 0: body[at] = b; break;
                    case 1: body.RemoveAt(at); break;
                    case 2: body.Insert(at, b); break;
                    default: body.RemoveRange(at, body.Count - at); break;
                }
            }
            AssertSameAsJsonReader(body.ToArray(), inputSize, random.Next(3) == 0 ? RandomLimits(random) : new InferenceOptions());
        }
    }

    private static void AssertSameAsJsonReader(byte[] body, int inputSize, InferenceOptions limits)
    {
        Outcome expected = Read(body, inputSize, limits, jsonReaderOnly: true);
        Outcome actual = Read(body, inputSize, limits);
        Assert.True(expected == actual, $"""
            body: {Encoding.UTF8.GetString(body)}
            input size {inputSize}, limits {limits.MaxSequences}/{limits.MaxStepsPerSequence}/{limits.MaxTotalSteps}
            JSON reader: {expected}
            TryRead:     {actual}
            """);
    }

    private static Outcome Read(byte[] body, int inputSize, InferenceOptions limits, bool jsonReaderOnly = false)
    {
        using var batch = new InputBatch();
        string? error = jsonReaderOnly
            ? InferenceRequestReader.TryReadWithJsonReader(body, "m", inputSize, limits, batch)
            : InferenceRequestReader.TryRead(body, "m", inputSize, limits, batch);
        return Outcome.Of(error, batch);
    }

    /// <summary>What a read leaves: its error and the batch, values as bits so −0 and 0 differ. Records compare by value.</summary>
    private sealed record Outcome(string? Error, string Values, string Lengths, int TotalSteps, int MaxLength)
    {
        public static Outcome Of(string? error, InputBatch batch) => new(
            error,
            string.Join(",", batch.Values.ToArray().Select(v => BitConverter.SingleToInt32Bits(v).ToString("x8", CultureInfo.InvariantCulture))),
            string.Join(",", batch.Lengths.ToArray()),
            batch.TotalSteps,
            batch.MaxLength);
    }

    private static InferenceOptions RandomLimits(Random random) => random.Next(3) == 0
        ? new InferenceOptions { MaxSequences = random.Next(1, 5), MaxStepsPerSequence = random.Next(1, 6), MaxTotalSteps = random.Next(1, 12) }
        : new InferenceOptions();

    /// <summary>
    /// A request body, mostly of the common shape; unless <paramref name="canonical"/>, now and then with what it
    /// leaves to the JSON reader: another property, an escaped name, a wrong count, an odd number, odd white space.
    /// </summary>
    private static string RandomBody(Random random, int inputSize, bool canonical = false)
    {
        bool odd = !canonical && random.Next(3) == 0;
        // Digits past 2^53 or 10^22 in one number send the whole body to the JSON reader, so only some bodies have them.
        bool longDigits = random.Next(4) == 0;
        string Space() => random.Next(6) switch
        {
            0 => " ",
            1 => random.Next(4) switch { 0 => "\t", 1 => "\n", 2 => "\r\n", _ => "  " },
            2 when odd && random.Next(20) == 0 => random.Next(2) == 0 ? "\f" : "\u00a0",
            _ => "",
        };
        string Number() => odd && random.Next(8) == 0 ? OddNumber(random) : CommonNumber(random, longDigits);

        var json = new StringBuilder();
        json.Append(Space()).Append('{').Append(Space());
        json.Append(odd && random.Next(15) == 0 ? random.Next(3) switch { 0 => "\"\\u0069nputs\"", 1 => "\"input\"", _ => "\"other\":1," } : "\"inputs\"");
        json.Append(Space()).Append(':').Append(Space()).Append('[');
        int sequences = odd && random.Next(15) == 0 ? 0 : random.Next(1, 5);
        for (int s = 0; s < sequences; s++)
        {
            json.Append(s == 0 ? "" : ",").Append(Space()).Append('[');
            int steps = odd && random.Next(15) == 0 ? 0 : random.Next(1, 7);
            for (int t = 0; t < steps; t++)
            {
                json.Append(t == 0 ? "" : ",").Append(Space());
                if (inputSize == 1 && random.Next(2) == 0 || odd && random.Next(30) == 0)
                {
                    json.Append(Number());
                    continue;
                }
                int features = odd && random.Next(15) == 0 ? inputSize + random.Next(-1, 2) : inputSize;
                json.Append('[');
                for (int f = 0; f < features; f++)
                    json.Append(f == 0 ? "" : ",").Append(Space()).Append(Number()).Append(Space());
                json.Append(']');
            }
            json.Append(Space()).Append(']');
        }
        json.Append(Space()).Append(']').Append(Space());
        if (odd && random.Next(15) == 0)
            json.Append(random.Next(3) switch { 0 => ",\"inputs\":[[1]]", 1 => ",", _ => "/* */" });
        json.Append('}').Append(Space());
        if (odd && random.Next(30) == 0)
            json.Append(random.Next(2) == 0 ? "{}" : "x");
        return json.ToString();
    }

    /// <summary>A number in the form the common shape reads: -?(0|[1-9][0-9]*)(.[0-9]+)?, of every length and size.</summary>
    private static string CommonNumber(Random random, bool longDigits)
    {
        var number = new StringBuilder(random.Next(3) == 0 ? "-" : "");
        switch (random.Next(5))
        {
            case 0: // as the load test writes them
                return (random.NextDouble() * 4 - 2).ToString("F3", CultureInfo.InvariantCulture);
            case 1: // the shortest round trip of a random float, when it has no exponent
                string shortest = BitConverter.Int32BitsToSingle(random.Next(0x3000_0000, 0x5000_0000)).ToString(CultureInfo.InvariantCulture);
                return shortest.Contains('E', StringComparison.Ordinal) ? "0.5" : number.Append(shortest).ToString();
            case 2: // half way between two floats: a double one bit off there rounds to the other float
                float below = BitConverter.Int32BitsToSingle(random.Next(0x3f00_0000, 0x4f00_0000));
                string halfWay = ((below + (double)float.BitIncrement(below)) / 2).ToString("R", CultureInfo.InvariantCulture);
                return halfWay.Contains('E', StringComparison.Ordinal) ? "0.5" : number.Append(halfWay).ToString();
            default: // random digits, zeros first after the point; long: up to 20 before it (past 2^53) and 30 after (past 10^22)
                if (random.Next(3) == 0)
                    number.Append('0');
                else
                    AppendDigits(number.Append((char)('1' + random.Next(9))), random.Next(longDigits ? 20 : 6));
                if (random.Next(4) != 0)
                    AppendDigits(number.Append('.').Append('0', random.Next(3) == 0 ? random.Next(8) : 0), random.Next(1, longDigits ? 30 : 8));
                return number.ToString();
        }

        void AppendDigits(StringBuilder text, int count)
        {
            for (int i = 0; i < count; i++)
                text.Append((char)('0' + random.Next(10)));
        }
    }

    /// <summary>A number, or not, that the common shape leaves to the JSON reader.</summary>
    private static string OddNumber(Random random)
    {
        string[] odd =
        [
            "1e3", "1E+3", "-2.5e-3", "1e39", "-1e39", "1e-46", "3.4028235e38", "3.5e38", "0e0", "1.5E", "01", "-01", "1.", ".5",
            "+1", "-", "--1", "0x10", "NaN", "Infinity", "true", "null", "\"1\"", "[]", "{}", "1 2",
        ];
        return random.Next(3) == 0
            ? (random.NextDouble() * Math.Pow(10, random.Next(-60, 60))).ToString("R", CultureInfo.InvariantCulture)
            : odd[random.Next(odd.Length)];
    }

    private static long BytesPerRead(byte[] body)
    {
        var limits = new InferenceOptions();
        return AllocationMeter.LeastBytesPerCall(() =>
        {
            using var batch = new InputBatch();
            Assert.Null(InferenceRequestReader.TryRead(body, "m", Features, limits, batch));
        });
    }

    private static byte[] Body(int steps) =>
        Body(steps, i => (i % 97 * 0.01).ToString(CultureInfo.InvariantCulture));

    /// <summary>One sequence of <paramref name="steps"/> steps of <see cref="Features"/> numbers, the i-th written by <paramref name="number"/>.</summary>
    private static byte[] Body(int steps, Func<int, string> number)
    {
        var json = new StringBuilder("{\"inputs\":[[");
        for (int t = 0; t < steps; t++)
        {
            json.Append(t == 0 ? "[" : ",[");
            for (int f = 0; f < Features; f++)
                json.Append(f == 0 ? "" : ",").Append(number(t * Features + f));
            json.Append(']');
        }
        return Encoding.UTF8.GetBytes(json.Append("]]}").ToString());
    }
}
