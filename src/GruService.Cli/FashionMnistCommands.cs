using static GruService.Cli.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GruService.Cli;

/// <summary>
/// The Fashion-MNIST benchmark's two ends outside the service: writing the images as an NDJSON dataset the service
/// ingests, and scoring a served classifier on the test images through its classify endpoint.
/// </summary>
public static class FashionMnistCommands
{
    /// <summary>fashion-mnist-ndjson --part train|t10k --out FILE [--fashion-mnist DIR]</summary>
    public static int WriteNdjson(string[] args)
    {
        string part = Option(args, "--part") ?? "train";
        string output = Option(args, "--out") ?? throw new ArgumentException("--out FILE is required.");
        FashionMnist data = FashionMnist.Load(Option(args, "--fashion-mnist") ?? FashionMnist.DefaultDirectory, part);
        using var writer = new StreamWriter(output, false, new UTF8Encoding(false), 1 << 20);
        var line = new StringBuilder(8192);
        for (int i = 0; i < data.Images.Length; i++)
        {
            line.Clear().Append("{\"sequence\":");
            AppendRows(line, data.Images[i]);
            line.Append(",\"label\":").Append(JsonSerializer.Serialize(FashionMnist.ClassNames[data.Labels[i]])).Append('}');
            writer.WriteLine(line);
        }
        Console.WriteLine($"wrote {data.Images.Length} sequences to {output}");
        return 0;
    }

    /// <summary>score-fashion-mnist --url URL --model NAME [--api-key KEY] [--fashion-mnist DIR] [--batch 500]: test accuracy of a served model.</summary>
    public static async Task<int> ScoreAsync(string[] args)
    {
        string model = Option(args, "--model") ?? throw new ArgumentException("--model NAME is required.");
        int batch = Int(args, "--batch", 500);
        FashionMnist test = FashionMnist.Load(Option(args, "--fashion-mnist") ?? FashionMnist.DefaultDirectory, "t10k");
        using HttpClient client = ServiceClient(args);
        int correct = 0;
        var body = new StringBuilder();
        for (int start = 0; start < test.Images.Length; start += batch)
        {
            int n = Math.Min(batch, test.Images.Length - start);
            body.Clear().Append("{\"inputs\":[");
            for (int i = 0; i < n; i++)
            {
                if (i > 0) body.Append(',');
                AppendRows(body, test.Images[start + i]);
            }
            body.Append("]}");
            using HttpResponseMessage response = await client.PostAsync($"/v1/models/{model}/classify", new StringContent(body.ToString(), Encoding.UTF8, "application/json"));
            response.EnsureSuccessStatusCode();
            JsonArray predictions = (await response.Content.ReadFromJsonAsync<JsonObject>())!["predictions"]!.AsArray();
            for (int i = 0; i < n; i++)
                if ((string?)predictions[i]!["label"] == FashionMnist.ClassNames[test.Labels[start + i]]) correct++;
        }
        double accuracy = (double)correct / test.Images.Length;
        Console.WriteLine(JsonSerializer.Serialize(new { model, test_images = test.Images.Length, correct, accuracy = Math.Round(accuracy, 4) }));
        return 0;
    }

    private static void AppendRows(StringBuilder text, float[] image)
    {
        text.Append('[');
        for (int r = 0; r < FashionMnist.Side; r++)
        {
            if (r > 0) text.Append(',');
            text.Append('[');
            for (int c = 0; c < FashionMnist.Side; c++)
            {
                if (c > 0) text.Append(',');
                text.Append((int)image[r * FashionMnist.Side + c]);
            }
            text.Append(']');
        }
        text.Append(']');
    }

}
