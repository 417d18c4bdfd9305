using System.Text.Json;
using GruService.Engine.ModelFiles;

namespace GruService.Engine.Tests;

/// <summary>
/// The vectors ../shared/refs/make_vectors.js wrote: random models in the file format, random inputs, and what
/// ONNX Runtime 1.30 answered for each sequence alone.
/// </summary>
public sealed record ReferenceCase(string Name, byte[] File, float[][][] Inputs, float[][] Expected)
{
    public override string ToString() => Name;

    public static string Directory => Path.Combine(AppContext.BaseDirectory, "ReferenceVectors");

    public static IEnumerable<ReferenceCase> All() =>
        System.IO.Directory.GetFiles(Directory, "*.expected.json").Order().Select(Load);

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (string path in System.IO.Directory.GetFiles(Directory, "*.expected.json").Order())
            data.Add(Path.GetFileName(path).Replace(".expected.json", ""));
        return data;
    }

    public static ReferenceCase Load(string nameOrPath)
    {
        string json = nameOrPath.EndsWith(".json") ? nameOrPath : Path.Combine(Directory, nameOrPath + ".expected.json");
        string name = Path.GetFileName(json).Replace(".expected.json", "");
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(json));
        JsonElement root = doc.RootElement;
        float[][][] inputs = root.GetProperty("inputs").EnumerateArray()
            .Select(seq => seq.EnumerateArray().Select(step => step.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray())
            .ToArray();
        // Forecasts come as [horizon][output_size]; flatten to the engine's row-major output.
        float[][] expected = root.GetProperty("expected").EnumerateArray()
            .Select(e => Flatten(e).ToArray())
            .ToArray();
        return new ReferenceCase(name, System.IO.File.ReadAllBytes(Path.Combine(Directory, name + ".safetensors")), inputs, expected);
    }

    private static IEnumerable<float> Flatten(JsonElement e) =>
        e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().SelectMany(Flatten) : [e.GetSingle()];

    public GruModel Model() => ModelFile.Read(File, new ModelLimits());

    /// <summary>Asserts |actual − expected| ≤ 1e-5 × max(1, |expected|) for every value.</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double tolerance = 1e-5 * Math.Max(1, Math.Abs(expected[i]));
            double error = Math.Abs((double)actual[i] - expected[i]);
            Assert.True(error <= tolerance, $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (error {error:E2} > {tolerance:E2})");
        }
    }
}
