using static GruService.Cli.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GruService.Cli;

/// <summary>
/// Scores a served ETTh1 forecaster by the standard protocol (../shared/datasets/README.md): every test window (targets in
/// rows 11520–14399, inputs reaching back into validation) sent through the forecast endpoint, then MSE and MAE over every
/// window, horizon step and feature on values standardised with the training rows' (0–8639) mean and standard deviation.
/// </summary>
public static class EtthScoring
{
    private const int TrainEnd = 8640, TestStart = 11520, TestEnd = 14400;

    /// <summary>score-etth1 --url URL --model NAME [--api-key KEY] [--data models/data/ETTh1.csv] [--lookback 96] [--horizon 96] [--batch 128]</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        string model = Option(args, "--model") ?? throw new ArgumentException("--model NAME is required.");
        string csv = Option(args, "--data") ?? Path.Combine("models", "data", "ETTh1.csv");
        int lookback = Int(args, "--lookback", 96), horizon = Int(args, "--horizon", 96), batch = Int(args, "--batch", 128);

        string[] lines = [.. File.ReadLines(csv).Skip(1).Where(l => l.Length > 0)];
        int columns = lines[0].Split(',').Length - 1;
        var rows = new double[lines.Length, columns];
        for (int r = 0; r < lines.Length; r++)
        {
            string[] fields = lines[r].Split(',');
            for (int c = 0; c < columns; c++) rows[r, c] = double.Parse(fields[c + 1], CultureInfo.InvariantCulture);
        }
        var mean = new double[columns];
        var std = new double[columns];
        for (int c = 0; c < columns; c++)
        {
            for (int r = 0; r < TrainEnd; r++) mean[c] += rows[r, c];
            mean[c] /= TrainEnd;
            for (int r = 0; r < TrainEnd; r++) std[c] += (rows[r, c] - mean[c]) * (rows[r, c] - mean[c]);
            std[c] = Math.Sqrt(std[c] / TrainEnd);
        }

        int[] starts = [.. Enumerable.Range(TestStart - lookback, TestEnd - horizon - (TestStart - lookback) - lookback + 1)];
        using HttpClient client = ServiceClient(args);
        double squared = 0, absolute = 0;
        long count = 0;
        var body = new StringBuilder();
        for (int first = 0; first < starts.Length; first += batch)
        {
            int n = Math.Min(batch, starts.Length - first);
            body.Clear().Append("{\"inputs\":[");
            for (int i = 0; i < n; i++)
            {
                body.Append(i > 0 ? ",[" : "[");
                for (int t = 0; t < lookback; t++)
                {
                    body.Append(t > 0 ? ",[" : "[");
                    for (int c = 0; c < columns; c++)
                        body.Append(c > 0 ? "," : "").Append(rows[starts[first + i] + t, c].ToString("R", CultureInfo.InvariantCulture));
                    body.Append(']');
                }
                body.Append(']');
            }
            body.Append("]}");
            using HttpResponseMessage response = await client.PostAsync($"/v1/models/{model}/forecast", new StringContent(body.ToString(), Encoding.UTF8, "application/json"));
            response.EnsureSuccessStatusCode();
            JsonArray forecasts = (await response.Content.ReadFromJsonAsync<JsonObject>())!["forecasts"]!.AsArray();
            for (int i = 0; i < n; i++)
                for (int h = 0; h < horizon; h++)
                    for (int c = 0; c < columns; c++)
                    {
                        double predicted = ((double)forecasts[i]![h]![c]! - mean[c]) / std[c];
                        double actual = (rows[starts[first + i] + lookback + h, c] - mean[c]) / std[c];
                        squared += (predicted - actual) * (predicted - actual);
                        absolute += Math.Abs(predicted - actual);
                        count++;
                    }
        }
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            model, test_windows = starts.Length, lookback, horizon, features = columns,
            test_mse = Math.Round(squared / count, 4), test_mae = Math.Round(absolute / count, 4),
        }));
        return 0;
    }


}
