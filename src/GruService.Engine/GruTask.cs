namespace GruService.Engine;

/// <summary>What a model's head computes from the final hidden state.</summary>
public enum GruTask
{
    /// <summary>A linear head giving horizon × output_size values, de-normalised with the target statistics.</summary>
    Forecast,

    /// <summary>A linear head followed by softmax over the classes.</summary>
    Classify,
}

/// <summary>
/// A task's name, as the model file's config, the API and the stores spell it: "forecast" or "classify". One mapping,
/// so that what one writes the others read.
/// </summary>
public static class GruTaskNames
{
    public const string Forecast = "forecast", Classify = "classify";

    public static string NameOf(GruTask task) => task == GruTask.Forecast ? Forecast : Classify;

    /// <summary>The task a name given by <see cref="NameOf"/> stands for; null for anything else.</summary>
    public static GruTask? Parse(string? name) => name switch { Forecast => GruTask.Forecast, Classify => GruTask.Classify, _ => null };
}
