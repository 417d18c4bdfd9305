#:project ../../src/GruService.Engine/GruService.Engine.csproj
#:property PublishAot=false
// Writes random-weight forecast models for the load tests with the engine's own model-file writer, so the files are
// exactly what the service accepts (ModelFile.Read checks each one before it is written).
//   dotnet run scripts/load-test/make-models.cs -- --out DIR [--count 1] [--input 8] [--hidden 64] [--layers 1]
//                                                 [--horizon 1] [--output 1] [--prefix gru] [--seed 1]
// Writes DIR/{prefix}-{i}.safetensors for i = 1..count (each with its own seed), and prints their paths.
// Random weights are fine here: throughput and memory depend on the shapes, not on the values.
using System.Globalization;
using GruService.Engine;
using GruService.Engine.ModelFiles;

string? output = null, prefix = "gru";
int count = 1, input = 8, hidden = 64, layers = 1, horizon = 1, outputSize = 1, seed = 1;
for (int i = 0; i < args.Length; i++)
{
    string name = args[i];
    string value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
    switch (name)
    {
        case "--out": output = value; break;
        case "--prefix": prefix = value; break;
        case "--count": count = Positive(name, value); break;
        case "--input": input = Positive(name, value); break;
        case "--hidden": hidden = Positive(name, value); break;
        case "--layers": layers = Positive(name, value); break;
        case "--horizon": horizon = Positive(name, value); break;
        case "--output": outputSize = Positive(name, value); break;
        case "--seed": seed = Positive(name, value); break;
        default: Console.Error.WriteLine($"unknown option {name}"); return 2;
    }
}
if (output is null) { Console.Error.WriteLine("--out DIR is required"); return 2; }
Directory.CreateDirectory(output);

for (int m = 1; m <= count; m++)
{
    var config = new GruConfig
    {
        Task = GruTask.Forecast, InputSize = input, HiddenSize = hidden, NumLayers = layers,
        Horizon = horizon, OutputSize = outputSize,
    };
    var random = new Random(seed + m - 1);
    int gates = 3 * hidden;
    var directions = new List<GruDirectionWeights>();
    for (int layer = 0; layer < layers; layer++)
    {
        int layerInput = config.LayerInputSize(layer);
        // PyTorch's default GRU initialisation range, U(-1/sqrt(H), 1/sqrt(H)), keeps the activations in the usual range.
        float bound = 1 / MathF.Sqrt(hidden);
        directions.Add(new GruDirectionWeights(layerInput, hidden,
            Uniform(random, gates * layerInput, bound), Uniform(random, gates * hidden, bound),
            Uniform(random, gates, bound), Uniform(random, gates, bound)));
    }
    float headBound = 1 / MathF.Sqrt(config.HeadInputs);
    var model = new GruModel(config, directions,
        Uniform(random, config.HeadOutputs * config.HeadInputs, headBound), Uniform(random, config.HeadOutputs, headBound));
    byte[] file = ModelFile.Write(model);
    ModelFile.Read(file, new ModelLimits()); // refuse to write what the service would refuse
    string path = Path.Combine(output, $"{prefix}-{m}.safetensors");
    File.WriteAllBytes(path, file);
    Console.WriteLine(path);
}
return 0;

static int Positive(string name, string value) =>
    int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
        ? n
        : throw new ArgumentException($"{name} must be a positive integer, not '{value}'");

static float[] Uniform(Random random, int count, float bound)
{
    var values = new float[count];
    for (int i = 0; i < count; i++) values[i] = (random.NextSingle() * 2 - 1) * bound;
    return values;
}
