using System.Text.Json;

namespace GruService.Api.Tests;

/// <summary>A model written by ../shared/refs/make_vectors.js with its inputs and ONNX Runtime's outputs.</summary>
public sealed record ReferenceModel(string Name, byte[] File, JsonElement Config, float[][][] Inputs, float[][] Expected)
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "ReferenceVectors");

    public string Task => Config.GetProperty("task").GetString()!;
    public int InputSize => Config.GetProperty("input_size").GetInt32();

    public static ReferenceModel Load(int seed)
    {
        string stem = Path.Combine(Directory, $"model-{seed}");
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(stem + ".expected.json"));
        JsonElement root = doc.RootElement;
        float[][][] inputs = [.. root.GetProperty("inputs").EnumerateArray()
            .Select(seq => seq.EnumerateArray().Select(step => step.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray())];
        float[][] expected = [.. root.GetProperty("expected").EnumerateArray().Select(e => Flatten(e).ToArray())];
        return new ReferenceModel($"ref-{seed}", System.IO.File.ReadAllBytes(stem + ".safetensors"), root.GetProperty("config").Clone(), inputs, expected);
    }

    public static IEnumerable<int> Seeds() =>
        System.IO.Directory.GetFiles(Directory, "model-*.expected.json")
            .Select(p => int.Parse(Path.GetFileName(p)["model-".Length..^".expected.json".Length]))
            .Order();

    private static IEnumerable<float> Flatten(JsonElement e) =>
        e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().SelectMany(Flatten) : [e.GetSingle()];

    public static void AssertClose(IReadOnlyList<float> expected, IReadOnlyList<float> actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            double tolerance = 1e-5 * Math.Max(1, Math.Abs(expected[i]));
            Assert.True(Math.Abs((double)actual[i] - expected[i]) <= tolerance, $"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }
}
