using GruService.Engine.Training;

namespace GruService.Engine.Tests.Training;

public class TrainingMathTests
{
    private const int M = 5, K = 3, N = 4;

    [Fact]
    public void MultiplyTransposed_IsAByBTransposedPlusBias()
    {
        double[] a = Matrix(M, K, 1), b = Matrix(N, K, 2), bias = Matrix(1, N, 3);
        var c = new double[M * N];
        TrainingMath.MultiplyTransposed<double>(a, M, K, b, N, bias, c);
        var unbiased = new double[M * N];
        TrainingMath.MultiplyTransposed<double>(a, M, K, b, N, default, unbiased);

        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
            {
                double dot = 0;
                for (int p = 0; p < K; p++) dot += a[i * K + p] * b[j * K + p];
                Assert.Equal(dot + bias[j], c[i * N + j], 1e-14);
                Assert.Equal(dot, unbiased[i * N + j], 1e-14);
            }
    }

    [Fact]
    public void AddTransposedProduct_AddsATransposedByB()
    {
        double[] a = Matrix(M, K, 4), b = Matrix(M, N, 5), c = Matrix(K, N, 6), start = [.. c];
        TrainingMath.AddTransposedProduct<double>(a, M, K, b, N, c);

        for (int p = 0; p < K; p++)
            for (int q = 0; q < N; q++)
            {
                double sum = start[p * N + q];
                for (int i = 0; i < M; i++) sum += a[i * K + p] * b[i * N + q];
                Assert.Equal(sum, c[p * N + q], 1e-14);
            }
    }

    [Fact]
    public void Multiply_OverwritesCWithAByB()
    {
        double[] a = Matrix(M, K, 7), b = Matrix(K, N, 8), c = Matrix(M, N, 9);
        TrainingMath.Multiply<double>(a, M, K, b, N, c);

        for (int i = 0; i < M; i++)
            for (int q = 0; q < N; q++)
            {
                double sum = 0;
                for (int p = 0; p < K; p++) sum += a[i * K + p] * b[p * N + q];
                Assert.Equal(sum, c[i * N + q], 1e-14);
            }
    }

    [Fact]
    public void AddColumnSums_AddsEachColumnsSum()
    {
        double[] a = Matrix(M, N, 10), c = Matrix(1, N, 11), start = [.. c];
        TrainingMath.AddColumnSums<double>(a, M, N, c);
        for (int j = 0; j < N; j++)
            Assert.Equal(start[j] + Enumerable.Range(0, M).Sum(i => a[i * N + j]), c[j], 1e-14);
    }

    [Fact]
    public void Products_RefuseSpansShorterThanTheirShape()
    {
        double[] a = new double[M * K], b = new double[N * K], c = new double[M * N - 1];
        Assert.Throws<ArgumentException>(() => TrainingMath.MultiplyTransposed<double>(a, M, K, b, N, default, c));
        Assert.Throws<ArgumentException>(() => TrainingMath.Multiply<double>(a, M, K, b, N, c));
    }

    private static double[] Matrix(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, rows * columns).Select(_ => 2 * random.NextDouble() - 1)];
    }
}
