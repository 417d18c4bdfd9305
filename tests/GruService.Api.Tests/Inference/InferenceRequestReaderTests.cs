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

    private static long BytesPerRead(byte[] body)
    {
        var limits = new InferenceOptions();
        return AllocationMeter.LeastBytesPerCall(() =>
        {
            using var batch = new InputBatch();
            Assert.Null(InferenceRequestReader.TryRead(body, "m", Features, limits, batch));
        });
    }

    private static byte[] Body(int steps)
    {
        var json = new StringBuilder("{\"inputs\":[[");
        for (int t = 0; t < steps; t++)
        {
            json.Append(t == 0 ? "[" : ",[");
            for (int f = 0; f < Features; f++)
                json.Append(f == 0 ? "" : ",").Append(((t * Features + f) % 97 * 0.01).ToString(CultureInfo.InvariantCulture));
            json.Append(']');
        }
        return Encoding.UTF8.GetBytes(json.Append("]]}").ToString());
    }
}
