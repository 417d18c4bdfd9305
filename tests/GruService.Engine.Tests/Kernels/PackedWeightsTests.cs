using GruService.Engine.Kernels;
using static GruService.Engine.Tests.Kernels.GemmTestData;

namespace GruService.Engine.Tests.Kernels;

public class PackedWeightsTests
{
    private const int Panel = PackedWeights.PanelWidth;

    [Fact]
    public void Panels_HoldEachWeightAtItsKMajorPlace_AndZeroPadding()
    {
        for (int n = 1; n <= 2 * Panel + 1; n++)
            foreach (int k in new[] { 1, 2, 5, 17 })
            {
                float[] w = Matrix(n * k, seed: n * k), bias = Matrix(n, seed: n);
                var packed = new PackedWeights(w, n, k, bias);
                int panels = (n + Panel - 1) / Panel;
                Assert.Equal(panels, packed.Panels);
                Span<float> data = packed.Data, paddedBias = packed.Bias;
                Assert.Equal(panels * k * Panel, data.Length);
                for (int j = 0; j < panels * Panel; j++)
                {
                    for (int p = 0; p < k; p++)
                        Assert.Equal(j < n ? w[j * k + p] : 0f, data[j / Panel * k * Panel + p * Panel + j % Panel]);
                    Assert.Equal(j < n ? bias[j] : 0f, paddedBias[j]);
                }
            }
    }

    [Fact]
    public void WithoutABias_TheBiasIsZero()
    {
        var packed = new PackedWeights(Matrix(20 * 3, 1), 20, 3, default);
        Assert.All(packed.Bias.ToArray(), value => Assert.Equal(0f, value));
    }

    [Fact]
    public void Panels_StartOnACacheLine()
    {
        // Each k of a panel is then exactly one 64-byte line: no load straddles two.
        foreach (int n in new[] { 1, 16, 33, 768 })
        {
            var packed = new PackedWeights(Matrix(n * 9, n), n, 9, default);
            Assert.Equal(0, packed.DataAddress % 64);
        }
    }

    [Fact]
    public void BadShapes_AreRejected()
    {
        Assert.Throws<ArgumentException>(() => new PackedWeights(new float[5], 2, 3, default));
        Assert.Throws<ArgumentException>(() => new PackedWeights(new float[6], 2, 3, new float[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PackedWeights(new float[6], 0, 3, default));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PackedWeights(new float[6], 2, 0, default));
    }
}
